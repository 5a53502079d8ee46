"""Process groups and collectives on MPI, with torch.distributed's names and semantics.

Each collective hands the NumPy array inside a Tensor straight to mpi4py's buffer interface
(upper-case ``Allreduce``, ``Bcast``, ...): no pickling, no copy when the array is contiguous.
mpi4py is imported on the first ``init_process_group``, never by ``import lossgrad``.
"""

from __future__ import annotations

import enum
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad._tensor import Tensor

if TYPE_CHECKING:
    from datetime import timedelta

_MISSING_MPI = (
    "lossgrad.distributed needs MPI: install the optional extra with "
    "`pip install 'lossgrad[distributed]'` (mpi4py and the mpich wheel)"
)
_TORCH_BACKENDS = ("gloo", "nccl", "ucc", "xccl", "hccl", "fake", "cpu:gloo", "cuda:nccl")


class ReduceOp:
    """The reduction of ``all_reduce`` and ``reduce_scatter_tensor`` (torch's ``ReduceOp``)."""

    class RedOpType(enum.Enum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX


class ProcessGroup:
    """A set of ranks and the MPI communicator that joins them."""

    def __init__(self, comm: Any, ranks: list[int]) -> None:
        self._comm = comm
        self._ranks = ranks

    def rank(self) -> int:
        return self._comm.Get_rank()

    def size(self) -> int:
        return self._comm.Get_size()

    def __repr__(self) -> str:
        return f"ProcessGroup(backend=mpi, ranks={self._ranks})"


class GroupMember:
    """torch's sentinels: ``WORLD`` (the default group, once initialized) and
    ``NON_GROUP_MEMBER`` (what ``new_group`` returns on a rank outside the group)."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = -100


group = GroupMember  # torch.distributed.group.WORLD spells the default group the same way


class Work:
    """The handle of a collective started with ``async_op=True``: ``wait()`` completes it."""

    def __init__(self, request: Any, finish: Any = None, tensors: Sequence[Tensor] = ()) -> None:
        self._request = request
        self._finish = finish
        self._tensors = list(tensors)
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def exception(self) -> None:
        return None

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Block until the collective is done (or raise RuntimeError after ``timeout``)."""
        if self._done:
            return True
        if timeout is None:
            self._request.Wait()
        else:
            deadline = time.monotonic() + timeout.total_seconds()
            while not self._request.Test():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"lossgrad.distributed: a collective did not complete within {timeout} "
                        "(a rank may have stopped or skipped it)"
                    )
                time.sleep(0.0005)
        self._complete()
        return True

    def result(self) -> list[Tensor]:
        return self._tensors

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None


# -- the default group -----------------------------------------------------------------------------

_state: dict[str, Any] = {"world": None, "MPI": None, "excepthook": None, "groups": []}


def is_available() -> bool:
    """True when mpi4py (the optional extra ``lossgrad[distributed]``) can be imported."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return _state["world"] is not None


def is_mpi_available() -> bool:
    return is_available()


def _mpi() -> Any:
    if _state["MPI"] is None:
        try:
            from mpi4py import MPI
        except ModuleNotFoundError as e:
            raise RuntimeError(_MISSING_MPI) from e
        _state["MPI"] = MPI
    return _state["MPI"]


def _env_int(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return None


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Join the processes started by ``mpiexec`` (or ``lossgrad run -n N``) into the default group.

    ``backend`` is ``"mpi"`` (or None, which means it). The rank and world size come from MPI;
    ``rank``/``world_size``, where given, must agree with it, and so must torch's ``WORLD_SIZE``
    environment variable in a process that MPI did not start with others (a script run
    without ``mpiexec`` is a world of one). ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are
    then set in ``os.environ`` as torchrun sets them. From here on an exception that escapes
    a rank's script prints its traceback and aborts every rank (``MPI_Abort``), so no rank
    waits forever in a collective for a rank that died.

    Args:
        backend: ``"mpi"`` or None. torch's other backend names raise RuntimeError (not built
            in), an unknown name raises AssertionError, as torch does.
        init_method, store, group_name, pg_options, device_id: accepted for torch's signature;
            MPI's launcher already connects the ranks.
        timeout: accepted for torch's signature (``Work.wait`` takes its own timeout).
        world_size, rank: checked against MPI's when given (-1: not given).

    Raises:
        ValueError: when called twice without ``destroy_process_group``.
        RuntimeError: MPI missing, or ranks/world size that disagree with MPI's.
    """
    if backend is not None:
        name = str(backend).lower()
        if name in _TORCH_BACKENDS:
            raise RuntimeError(
                f"Distributed package doesn't have {backend} built in: lossgrad.distributed "
                "runs on MPI (backend='mpi')"
            )
        if name != "mpi":
            raise AssertionError(f"Unknown backend type {backend}")
    if _state["world"] is not None:
        raise ValueError("trying to initialize the default process group twice!")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    mpi_rank, mpi_size = comm.Get_rank(), comm.Get_size()
    if mpi_size == 1:  # not started by mpiexec: torch's variables may say otherwise
        world_size = world_size if world_size != -1 else (_env_int("WORLD_SIZE") or -1)
    if world_size not in (-1, mpi_size):
        comm.Free()
        raise RuntimeError(
            f"world_size is {world_size} but MPI started {mpi_size} process(es): start the "
            f"ranks with `lossgrad run -n {world_size} script.py` or `mpiexec -n {world_size}`"
        )
    if rank not in (-1, mpi_rank):
        comm.Free()
        raise RuntimeError(f"rank is {rank} but MPI gives this process rank {mpi_rank}")
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    os.environ.update(
        RANK=str(mpi_rank), WORLD_SIZE=str(mpi_size), LOCAL_RANK=str(local.Get_rank())
    )
    local.Free()
    for stream in (sys.stdout, sys.stderr):  # whole lines, promptly, through mpiexec's pipes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, write_through=False)
    world = ProcessGroup(comm, list(range(mpi_size)))
    _state["world"] = GroupMember.WORLD = world
    _install_abort_on_error(MPI, mpi_rank, mpi_size)


def _install_abort_on_error(MPI: Any, rank: int, size: int) -> None:
    """An uncaught exception on one rank would leave the others blocked in their next collective
    (and the failed rank itself in MPI_Finalize): print it, then MPI_Abort every rank."""
    previous = sys.excepthook

    def abort_all(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        import traceback

        # the one-line summary first: mpiexec may drop what a rank writes just before MPI_Abort
        print(
            f"lossgrad.distributed: rank {rank} of {size} failed with {kind.__name__}: {error}; "
            "aborting all ranks",
            file=sys.stderr,
            flush=True,
        )
        traceback.print_exception(kind, error, tb)
        sys.stderr.flush()
        sys.stdout.flush()
        time.sleep(0.5)  # let mpiexec forward the output before the abort ends the job
        MPI.COMM_WORLD.Abort(1)

    def abort_from_thread(args: Any) -> None:
        abort_all(args.exc_type, args.exc_value, args.exc_traceback)

    _state["excepthook"] = (previous, threading.excepthook)
    sys.excepthook = abort_all
    threading.excepthook = abort_from_thread


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Free ``group``'s communicator; without a group, the default one and every group made
    from it (``init_process_group`` may then be called again)."""
    world = _world()
    if group is None or group is world:
        for pg in _state["groups"]:
            pg._comm.Free()
        _state["groups"] = []
        world._comm.Free()
        _state["world"] = GroupMember.WORLD = None
        if _state["excepthook"] is not None:
            sys.excepthook, threading.excepthook = _state["excepthook"]
            _state["excepthook"] = None
    elif group is not GroupMember.NON_GROUP_MEMBER:
        _state["groups"].remove(group)
        group._comm.Free()


def _world() -> ProcessGroup:
    world = _state["world"]
    if world is None:
        raise ValueError(
            "Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return world


def _group(group: Any) -> ProcessGroup:
    world = _world()
    if group is None or group is GroupMember.WORLD:
        return world
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError(
            f"rank {world.rank()} is not a member of this group (new_group returned "
            "GroupMember.NON_GROUP_MEMBER here)"
        )
    return group


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (the default group if None); -1 outside the group."""
    if group is GroupMember.NON_GROUP_MEMBER:
        _world()
        return -1
    return _group(group).rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    if group is GroupMember.NON_GROUP_MEMBER:
        _world()
        return -1
    return _group(group).size()


def get_backend(group: ProcessGroup | None = None) -> str:
    _group(group)
    return "mpi"


def new_group(
    ranks: Sequence[int] | None = None,
    timeout: timedelta | None = None,
    backend: str | None = None,
    pg_options: Any = None,
    use_local_synchronization: bool = False,
    group_desc: str | None = None,
    device_id: Any = None,
    sort_ranks: bool = True,
) -> ProcessGroup | int:
    """A group of ``ranks`` (global ranks; all of them if None). Every rank of the default group
    must call it, as in torch; a rank outside ``ranks`` gets ``GroupMember.NON_GROUP_MEMBER``."""
    world = _world()
    members = list(range(world.size())) if ranks is None else list(ranks)
    if sort_ranks:
        members = sorted(members)
    for r in members:
        if not 0 <= r < world.size():
            raise ValueError(
                f"The new group's rank should be within the world_size set by "
                f"init_process_group, but got rank {r} (world_size {world.size()})"
            )
    MPI = _mpi()
    comm = world._comm.Create(world._comm.Get_group().Incl(members))
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(comm, members)
    _state["groups"].append(pg)
    return pg


def get_process_group_ranks(group: ProcessGroup | None) -> list[int]:
    return list(_group(group)._ranks)


def _group_rank(pg: ProcessGroup, global_rank: int, what: str) -> int:
    try:
        return pg._ranks.index(global_rank)
    except ValueError:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}") from None


# -- collectives -----------------------------------------------------------------------------------


def _array(tensor: Any, name: str) -> np.ndarray:
    if isinstance(tensor, Tensor):
        return tensor._data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(
        f"Invalid function argument. Expected parameter `{name}` of type Tensor but got "
        f"{type(tensor)} instead."
    )


def _tensor_list(tensors: Any, name: str) -> list[np.ndarray]:
    if not isinstance(tensors, list):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{name}` of type List[Tensor] but "
            f"got {type(tensors)} instead."
        )
    return [_array(t, name) for t in tensors]


class _Buffer:
    """A contiguous array to hand to MPI for ``array``: the array itself when it is contiguous
    and writeable, else a copy that ``write_back`` copies into it after the collective."""

    def __init__(self, array: np.ndarray) -> None:
        self.target = array
        contiguous = array.flags.c_contiguous and array.flags.writeable
        self.data = array if contiguous else np.ascontiguousarray(array)

    def write_back(self) -> None:
        if self.data is not self.target:
            np.copyto(self.target, self.data)


def _mpi_op(op: Any) -> Any:
    MPI = _mpi()
    table = {
        ReduceOp.SUM: MPI.SUM,
        ReduceOp.AVG: MPI.SUM,
        ReduceOp.PRODUCT: MPI.PROD,
        ReduceOp.MIN: MPI.MIN,
        ReduceOp.MAX: MPI.MAX,
    }
    if op not in table:
        raise ValueError(f"op must be a ReduceOp (SUM, AVG, PRODUCT, MIN or MAX), got {op!r}")
    return table[op]


def _divide(array: np.ndarray, count: int) -> None:
    """AVG = SUM / count in place; integer tensors round toward zero (as NCCL's average)."""
    if array.dtype.kind == "f" or array.dtype.kind == "c":
        np.divide(array, count, out=array)
    else:
        np.copyto(array, np.sign(array) * (np.abs(array) // count))  # exact for any int64


def _run(
    async_op: bool, start: Any, blocking: Any, finish: Any = None, tensors: Sequence[Any] = ()
) -> Work | None:
    """Run a collective: blocking MPI call, or a started request wrapped in a Work."""
    if not async_op:
        blocking()
        if finish is not None:
            finish()
        return None
    return Work(start(), finish, tensors)


def all_reduce(
    tensor: Tensor,
    op: Any = ReduceOp.SUM,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``tensor`` over the ranks of ``group`` in place: every rank ends with the result.

    Example:
        >>> import lossgrad as torch, lossgrad.distributed as dist
        >>> dist.init_process_group("mpi")          # one rank when run without mpiexec
        >>> t = torch.tensor([1.0, 2.0])
        >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)
        >>> t                                       # times the world size under mpiexec -n N
        tensor([1., 2.])
        >>> dist.destroy_process_group()
    """
    pg = _group(group)
    buf = _Buffer(_array(tensor, "tensor"))
    mpi_op = _mpi_op(op)
    MPI = _state["MPI"]
    size = pg.size()

    def finish() -> None:
        if op is ReduceOp.AVG:
            _divide(buf.data, size)
        buf.write_back()

    return _run(
        async_op,
        lambda: pg._comm.Iallreduce(MPI.IN_PLACE, buf.data, mpi_op),
        lambda: pg._comm.Allreduce(MPI.IN_PLACE, buf.data, mpi_op),
        finish,
        [tensor],
    )


def broadcast(
    tensor: Tensor,
    src: int | None = None,
    group: ProcessGroup | None = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Copy ``tensor`` of global rank ``src`` (or of group rank ``group_src``) to every rank."""
    pg = _group(group)
    root = _root(pg, src, group_src, "src")
    buf = _Buffer(_array(tensor, "tensor"))
    return _run(
        async_op,
        lambda: pg._comm.Ibcast(buf.data, root),
        lambda: pg._comm.Bcast(buf.data, root),
        buf.write_back,
        [tensor],
    )


def _root(pg: ProcessGroup, global_rank: int | None, group_rank: int | None, name: str) -> int:
    if global_rank is not None and group_rank is not None:
        raise ValueError(f"Can not specify both {name} and group_{name}")
    if group_rank is not None:
        if not 0 <= group_rank < pg.size():
            raise ValueError(f"Group rank {group_rank} is not part of group {pg}")
        return group_rank
    return _group_rank(pg, 0 if global_rank is None else global_rank, name)


def _check_per_rank(
    arrays: Sequence[np.ndarray], like: np.ndarray, pg: ProcessGroup, name: str
) -> None:
    """One array per rank of ``pg``, each with ``like``'s shape and dtype."""
    if len(arrays) != pg.size():
        raise ValueError(f"{name} must hold one tensor per rank ({pg.size()}), got {len(arrays)}")
    for a in arrays:
        if a.shape != like.shape or a.dtype != like.dtype:
            raise ValueError(
                f"every tensor of {name} must have the input's shape {tuple(like.shape)} and "
                f"dtype {like.dtype}, got {tuple(a.shape)} and {a.dtype}"
            )


def _root_list(
    tensors: list[Tensor] | None,
    name: str,
    role: str,
    is_root: bool,
    pg: ProcessGroup,
    like: np.ndarray,
) -> list[np.ndarray] | None:
    """The per-rank list of ``gather``/``scatter``: required on the root, refused elsewhere."""
    if not is_root:
        if tensors:
            raise ValueError(f"Argument ``{name}`` must NOT be specified on non-{role} ranks.")
        return None
    if tensors is None:
        raise ValueError(f"Argument ``{name}`` must be specified on {role} rank.")
    arrays = _tensor_list(tensors, name)
    _check_per_rank(arrays, like, pg, name)
    return arrays


def all_gather(
    tensor_list: list[Tensor],
    tensor: Tensor,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` on every rank."""
    pg = _group(group)
    outputs = _tensor_list(tensor_list, "tensor_list")
    local = np.ascontiguousarray(_array(tensor, "tensor"))
    _check_per_rank(outputs, local, pg, "tensor_list")
    gathered = np.empty((pg.size(), *local.shape), local.dtype)

    def finish() -> None:
        for out, part in zip(outputs, gathered):
            np.copyto(out, part)

    return _run(
        async_op,
        lambda: pg._comm.Iallgather(local, gathered),
        lambda: pg._comm.Allgather(local, gathered),
        finish,
        tensor_list,
    )


def _stacked_or_concatenated(
    big: np.ndarray, small: np.ndarray, size: int, big_name: str, small_name: str
) -> None:
    if big.dtype != small.dtype:
        raise ValueError(
            f"{big_name} and {small_name} must have the same dtype, got {big.dtype} and "
            f"{small.dtype}"
        )
    stacked = (size, *small.shape)
    concatenated = (size * small.shape[0], *small.shape[1:]) if small.ndim else None
    if big.shape not in (stacked, concatenated):
        raise ValueError(
            f"{big_name} must have shape {stacked} (stacked) or {concatenated} (concatenated on "
            f"dim 0) for a {small_name} of shape {tuple(small.shape)} on {size} ranks, got "
            f"{tuple(big.shape)}"
        )


def all_gather_into_tensor(
    output_tensor: Tensor,
    input_tensor: Tensor,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Work | None:
    """Gather every rank's ``input_tensor`` into ``output_tensor``, stacked or concatenated on
    dim 0 (rank order), with no intermediate list."""
    pg = _group(group)
    out = _Buffer(_array(output_tensor, "output_tensor"))
    local = np.ascontiguousarray(_array(input_tensor, "input_tensor"))
    _stacked_or_concatenated(out.target, local, pg.size(), "output_tensor", "input_tensor")
    return _run(
        async_op,
        lambda: pg._comm.Iallgather(local, out.data),
        lambda: pg._comm.Allgather(local, out.data),
        out.write_back,
        [output_tensor],
    )


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,
    op: Any = ReduceOp.SUM,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``input`` (one block per rank, stacked or concatenated on dim 0) over the ranks and
    leave block r of the result in rank r's ``output``."""
    pg = _group(group)
    out = _Buffer(_array(output, "output"))
    full = np.ascontiguousarray(_array(input, "input"))
    _stacked_or_concatenated(full, out.target, pg.size(), "input", "output")
    mpi_op = _mpi_op(op)
    size = pg.size()

    def finish() -> None:
        if op is ReduceOp.AVG:
            _divide(out.data, size)
        out.write_back()

    return _run(
        async_op,
        lambda: pg._comm.Ireduce_scatter_block(full, out.data, mpi_op),
        lambda: pg._comm.Reduce_scatter_block(full, out.data, mpi_op),
        finish,
        [output],
    )


def gather(
    tensor: Tensor,
    gather_list: list[Tensor] | None = None,
    dst: int | None = None,
    group: ProcessGroup | None = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Work | None:
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (None elsewhere)."""
    pg = _group(group)
    root = _root(pg, dst, group_dst, "dst")
    local = np.ascontiguousarray(_array(tensor, "tensor"))
    is_root = pg.rank() == root
    outputs = _root_list(gather_list, "gather_list", "destination", is_root, pg, local)
    gathered = np.empty((pg.size(), *local.shape), local.dtype) if is_root else None

    def finish() -> None:
        if is_root:
            for out, part in zip(outputs, gathered):
                np.copyto(out, part)

    return _run(
        async_op,
        lambda: pg._comm.Igather(local, gathered, root),
        lambda: pg._comm.Gather(local, gathered, root),
        finish,
        gather_list or [],
    )


def scatter(
    tensor: Tensor,
    scatter_list: list[Tensor] | None = None,
    src: int | None = None,
    group: ProcessGroup | None = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Rank ``src`` sends ``scatter_list[r]`` to rank r, which receives it into ``tensor``."""
    pg = _group(group)
    root = _root(pg, src, group_src, "src")
    out = _Buffer(_array(tensor, "tensor"))
    inputs = _root_list(scatter_list, "scatter_list", "source", pg.rank() == root, pg, out.target)
    source = np.stack(inputs) if inputs else None
    return _run(
        async_op,
        lambda: pg._comm.Iscatter(source, out.data, root),
        lambda: pg._comm.Scatter(source, out.data, root),
        out.write_back,
        [tensor],
    )


def barrier(
    group: ProcessGroup | None = None,
    async_op: bool = False,
    device_ids: Any = None,
    timeout: timedelta | None = None,
) -> Work | None:
    """Wait until every rank of ``group`` has reached the barrier."""
    pg = _group(group)
    return _run(async_op, pg._comm.Ibarrier, pg._comm.Barrier)
