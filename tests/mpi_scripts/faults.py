"""Faults on N ranks. ``faults.py mismatch``: rank 1 builds a different model, and every rank's
DistributedDataParallel raises a RuntimeError naming the difference (caught, checked, "mismatch
ok"). ``faults.py raise``: the last rank raises while the others enter an all_reduce: the job
must end (non-zero status, the error named) instead of hanging. ``faults.py exit``: the last
rank calls ``sys.exit(3)``; started by the launcher's command (``python -m mpi4py``), the job
ends with that status."""

from __future__ import annotations

import sys


def main(kind: str) -> None:
    import lossgrad as torch
    import lossgrad.distributed as dist
    from lossgrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    if kind == "mismatch":
        width = 5 if rank == 1 else 4
        model = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Linear(width, 1))
        try:
            DistributedDataParallel(model)
        except RuntimeError as error:
            message = str(error)
            assert "same model across all ranks" in message, message
            assert "[5, 3]" in message and "[4, 3]" in message, message
        else:
            raise AssertionError("mismatched models were not detected")
        dist.barrier()
        if rank == 0:
            print("mismatch ok")
    elif kind == "exit":
        if rank == size - 1:
            sys.exit(3)
        t = torch.ones(3)
        dist.all_reduce(t)  # waits for the rank that left: the launcher's runner must end it
        print("unreachable: all_reduce completed")
    else:
        if rank == size - 1:
            raise ValueError(f"rank {rank} cannot read its data")
        t = torch.ones(3)
        dist.all_reduce(t)  # waits for the failed rank: the abort must end it
        print("unreachable: all_reduce completed")


if __name__ == "__main__":
    main(sys.argv[1])
