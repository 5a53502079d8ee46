"""Every collective of lossgrad.distributed against NumPy, on the ranks of ``mpiexec -n N``.

Each rank's data comes from a generator seeded by (rank, dtype), so every rank can rebuild
every other rank's data and compute the expected result with NumPy. Run by
tests/test_distributed_mpi.py; prints "collectives ok" on rank 0.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np


def data(rank: int, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng([rank, len(dtype), shape[0]])
    if dtype == "int64":
        return rng.integers(-5, 6, shape).astype(np.int64)
    return rng.uniform(0.5, 1.5, shape).astype(dtype)  # positive: PRODUCT stays well scaled


def check(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.dtype == expected.dtype, (what, got.dtype, expected.dtype)
    if got.dtype.kind == "i":
        np.testing.assert_array_equal(got, expected, err_msg=what)
    else:
        tol = 1e-6 if got.dtype == np.float32 else 1e-13
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)


def main() -> None:
    import lossgrad as torch
    import lossgrad.distributed as dist

    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    ranks = range(size)
    reductions = {
        dist.ReduceOp.SUM: lambda a: a.sum(0),
        dist.ReduceOp.PRODUCT: lambda a: a.prod(0),
        dist.ReduceOp.MIN: lambda a: a.min(0),
        dist.ReduceOp.MAX: lambda a: a.max(0),
        dist.ReduceOp.AVG: lambda a: (
            a.sum(0) / size if a.dtype.kind == "f" else np.trunc(a.sum(0) / size)
        ).astype(a.dtype),
    }
    for dtype in ("float32", "float64", "int64"):
        shape = (3, 4)
        every = np.stack([data(r, dtype, shape) for r in ranks])
        mine = data(rank, dtype, shape)
        for op, reduce in reductions.items():
            for async_op in (False, True):
                t = torch.from_numpy(mine.copy())
                work = dist.all_reduce(t, op=op, async_op=async_op)
                if async_op:
                    assert work.wait(timeout=timedelta(seconds=30)) and work.is_completed()
                check(t.numpy(), reduce(every), f"all_reduce {op} {dtype} async={async_op}")
            # a non-contiguous tensor: reduced in a copy, written back
            base = torch.from_numpy(np.repeat(mine, 2, axis=1).copy())
            view = base[:, ::2]
            dist.all_reduce(view, op=op)
            check(base.numpy()[:, ::2], reduce(every), f"all_reduce strided {op} {dtype}")
            check(base.numpy()[:, 1::2], mine, f"all_reduce strided untouched {dtype}")
            # reduce_scatter_tensor, concatenated and stacked
            blocks = np.stack([data(r, dtype, (size * 2, 3)) for r in ranks])
            for layout in ("cat", "stack"):
                source = blocks[rank] if layout == "cat" else blocks[rank].reshape(size, 2, 3)
                out = torch.zeros(2, 3, dtype=getattr(torch, dtype))
                dist.reduce_scatter_tensor(out, torch.from_numpy(source.copy()), op=op)
                expected = reduce(blocks)[2 * rank : 2 * rank + 2]
                check(out.numpy(), expected, f"reduce_scatter_tensor {layout} {op} {dtype}")
        for src in ranks:
            t = torch.from_numpy(mine.copy())
            work = dist.broadcast(t, src=src, async_op=src % 2 == 1)
            if work is not None:
                work.wait()
            check(t.numpy(), every[src], f"broadcast src={src} {dtype}")
        outs = [torch.zeros(*shape, dtype=getattr(torch, dtype)) for _ in ranks]
        dist.all_gather(outs, torch.from_numpy(mine))
        for r in ranks:
            check(outs[r].numpy(), every[r], f"all_gather {dtype}")
        stacked = torch.zeros(size, *shape, dtype=getattr(torch, dtype))
        dist.all_gather_into_tensor(stacked, torch.from_numpy(mine))
        check(stacked.numpy(), every, f"all_gather_into_tensor stacked {dtype}")
        flat = torch.zeros(size * shape[0], shape[1], dtype=getattr(torch, dtype))
        dist.all_gather_into_tensor(flat, torch.from_numpy(mine), async_op=True).wait()
        check(flat.numpy(), every.reshape(-1, shape[1]), f"all_gather_into_tensor cat {dtype}")
        dst = size - 1
        gathered = [torch.zeros(*shape, dtype=getattr(torch, dtype)) for _ in ranks]
        dist.gather(torch.from_numpy(mine), gathered if rank == dst else None, dst=dst)
        if rank == dst:
            for r in ranks:
                check(gathered[r].numpy(), every[r], f"gather {dtype}")
        received = torch.zeros(*shape, dtype=getattr(torch, dtype))
        pieces = [torch.from_numpy(every[r] * 2) for r in ranks] if rank == 0 else None
        dist.scatter(received, pieces, src=0)
        check(received.numpy(), every[rank] * 2, f"scatter {dtype}")
    dist.barrier()
    # a wait with a timeout raises instead of blocking: the last rank reaches the barrier late
    work = dist.barrier(async_op=True) if rank < size - 1 else None
    if rank == 0 and size > 1:
        try:
            work.wait(timeout=timedelta(seconds=0.2))
        except RuntimeError as error:
            assert "did not complete within 0:00:00.200000" in str(error), error
        else:
            raise AssertionError("Work.wait(timeout) did not time out")
    if work is None:
        time.sleep(0.6)
        work = dist.barrier(async_op=True)
    work.wait()

    # a subgroup: the even ranks
    evens = list(range(0, size, 2))
    sub = dist.new_group(evens)
    if rank in evens:
        assert dist.get_world_size(sub) == len(evens) and dist.get_rank(sub) == evens.index(rank)
        t = torch.tensor([float(rank)])
        dist.all_reduce(t, group=sub)
        check(t.numpy(), np.array([float(sum(evens))], np.float32), "all_reduce subgroup")
        t = torch.tensor([float(rank)])
        dist.broadcast(t, src=evens[-1], group=sub)
        check(t.numpy(), np.array([float(evens[-1])], np.float32), "broadcast subgroup")
    else:
        assert sub is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(sub) == -1
    dist.destroy_process_group()
    assert not dist.is_initialized()
    if rank == 0:
        print(f"collectives ok on {size} ranks")


if __name__ == "__main__":
    main()
