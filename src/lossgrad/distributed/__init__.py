"""lossgrad.distributed: torch.distributed's API on MPI, and the exact cost across pieces.

Start N processes with ``lossgrad run -n N script.py`` (or ``mpiexec -n N python script.py``);
in the script, ``init_process_group("mpi")`` joins them. The collectives (``all_reduce``,
``broadcast``, ``all_gather``, ``all_gather_into_tensor``, ``reduce_scatter_tensor``, ``gather``,
``scatter``, ``barrier``) take torch's arguments and work on the NumPy array inside each Tensor
directly. mpi4py (the optional extra ``lossgrad[distributed]``) is imported only when a process
group is initialized: ``import lossgrad`` never needs it.
"""

from lossgrad.distributed._core import (
    GroupMember,
    ProcessGroup,
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    gather,
    get_backend,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    new_group,
    reduce_scatter_tensor,
    scatter,
)
from lossgrad.distributed._cost import ExactMean

__all__ = [
    "ExactMean",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "gather",
    "get_backend",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "new_group",
    "reduce_scatter_tensor",
    "scatter",
]
