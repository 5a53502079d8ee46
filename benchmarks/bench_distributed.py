"""Gradient all-reduce throughput and training-step scaling of lossgrad.distributed on MPI.

Run: ``python benchmarks/bench_distributed.py`` (it starts itself on 2 ranks through mpiexec;
``--quick`` for the smaller sizes only). Two tables:

1. All-reduce throughput, 2 ranks, float32 gradients of 1M to 100M parameters. Each repeat
   runs the ways below once each, one after the other on the same buffer size (their order
   alternating from one repeat to the next), so that the load of other processes hits them
   alike; a repeat's time is that of the slowest rank:
   - ``mpi4py``: ``comm.Allreduce(IN_PLACE, buffer, SUM)`` on one flat NumPy buffer (the bound);
   - ``all_reduce``: ``lossgrad.distributed.all_reduce(tensor)`` (SUM) on that buffer;
   - ``DDP``: DistributedDataParallel's whole gradient path as a backward runs it, on a model of
     10 parameters of that total size, each given a fresh ``.grad`` (as after
     ``zero_grad()``): every post-accumulate hook copies its gradient divided by the world size
     into its 25 MiB bucket (parameters under 1 MiB, as at 1M parameters here) or leaves it in
     its own array (larger ones); each bucket is all-reduced (non-blocking) in pieces of at
     most 8 MiB, a gradient in its own array divided piece by piece just before; wait for all.
   - ``DDP view``: the same with ``gradient_as_bucket_view=True`` and the gradients already in
     the buckets, as after ``zero_grad(set_to_none=False)`` and a backward that accumulated
     into them: every hook divides its gradient in place, and each bucket of up to 25 MiB is
     all-reduced in its 8 MiB pieces (no copy, fewer and larger messages). What this path
     costs the backward itself (adding each gradient into the zeroed bucket instead of
     keeping it as it comes) is not timed.
   - ``mpi4py + avg``: ``Allreduce`` then the division by the world size, in place: the
     average that DDP computes, written by hand on one flat buffer.
   - ``mpi4py pieces``: ``Allreduce`` on the flat buffer's consecutive 8 MiB pieces, one after
     the other: how much of DDP's speed comes from the pieces alone (MPI's large-message path
     allocates and touches temporary buffers of the message's size at each call).
   MB/s: the gradient bytes over the median time. ratio: the median over the repeats of
   t(mpi4py) / t(way) (target: >= 0.90), with its quartiles; for DDP also the medians of
   t(mpi4py + avg) / t(DDP) and t(mpi4py pieces) / t(DDP).
2. Training-step time of an MLP (forward, cross-entropy, backward, gradient sync, SGD step) on
   a fixed global batch, on 1 rank (the other rank sleeps) and split over 2 ranks, interleaved,
   with the default threads and with one thread per rank: the speed-up t(1)/t(2), medians.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [1_000_000, 4_000_000, 10_000_000, 30_000_000, 100_000_000]
QUICK_SIZES = SIZES[:3]


def _elapsed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _slowest(comm, times: list[float]) -> np.ndarray:
    """Each repeat's time on the slowest rank."""
    from mpi4py import MPI

    times_array = np.array(times)
    comm.Allreduce(MPI.IN_PLACE, times_array, MPI.MAX)
    return times_array


def _quiet_barrier(comm) -> None:
    """A barrier that sleeps while it waits (MPI's spins, taking a core from a timed rank)."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.0005)


def allreduce_table(sizes: list[int], repeat: int) -> None:
    import lossgrad.distributed as dist

    comm = dist.group.WORLD._comm
    rank = dist.get_rank()
    if rank == 0:
        print(
            f"all-reduce, {dist.get_world_size()} ranks, float32; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"{'params':>11} {'MB':>5} {'reps':>4} {'mpi4py MB/s':>11} {'all_reduce':>10} "
            f"{'ratio (quartiles)':>18} {'DDP MB/s':>9} {'ratio (quartiles)':>18} "
            f"{'vs mpi4py + avg':>15} {'vs pieces':>9} {'DDP view MB/s':>13} "
            f"{'ratio (quartiles)':>18}"
        )
    for size in sizes:
        repeats = max(repeat, min(200, 1_000_000_000 // size))
        times = _allreduce_times(comm, size, repeats)
        if rank == 0:
            megabytes = size * 4 / 1e6
            cells = [f"{size:>11,} {megabytes:>5.0f} {repeats:>4} "]
            cells.append(f"{megabytes / np.median(times['raw']):>11.0f} ")
            cells.append(_throughput_and_ratio(times, "ours", megabytes, 10))
            cells.append(_throughput_and_ratio(times, "ddp", megabytes, 9))
            cells.append(f"{np.median(times['avg'] / times['ddp']):>15.2f} ")
            cells.append(f"{np.median(times['pieces'] / times['ddp']):>9.2f} ")
            cells.append(_throughput_and_ratio(times, "view", megabytes, 13))
            print("".join(cells), flush=True)


def _throughput_and_ratio(times: dict, name: str, megabytes: float, width: int) -> str:
    """MB/s of way ``name``, and the median of t(mpi4py) / t(name) with its quartiles."""
    low, mid, high = np.percentile(times["raw"] / times[name], [25, 50, 75])
    return (
        f"{megabytes / np.median(times[name]):>{width}.0f} "
        f"{f'{mid:.2f} ({low:.2f}-{high:.2f})':>18} "
    )


def _allreduce_times(comm, size: int, repeats: int) -> dict[str, np.ndarray]:
    """Per repeat, the time of each way to all-reduce ``size`` float32 gradients."""
    from mpi4py import MPI

    import lossgrad as torch
    import lossgrad.distributed as dist
    from lossgrad.nn.parallel import DistributedDataParallel, distributed

    buffer = np.ones(size, np.float32)
    tensor = torch.from_numpy(buffer)
    model = torch.nn.Module()
    for k in range(10):
        setattr(model, f"p{k}", torch.nn.Parameter(torch.zeros(size // 10)))
    ddp = DistributedDataParallel(model)
    params = list(model.parameters())
    viewed = torch.nn.Module()  # the same parameters' arrays, their gradients in the buckets
    for k, p in enumerate(params):
        setattr(viewed, f"p{k}", torch.nn.Parameter(torch.from_numpy(p._data)))
    view_ddp = DistributedDataParallel(viewed, gradient_as_bucket_view=True)
    view_params = list(viewed.parameters())
    # ones: averaged over ranks holding the same values, they stay ones, repeat after repeat
    grads = [torch.from_numpy(np.ones(size // 10, np.float32)) for _ in params]

    def raw() -> None:
        comm.Allreduce(MPI.IN_PLACE, buffer, MPI.SUM)

    def ours() -> None:
        dist.all_reduce(tensor)

    def average() -> None:
        comm.Allreduce(MPI.IN_PLACE, buffer, MPI.SUM)
        np.multiply(buffer, 1.0 / comm.Get_size(), out=buffer)

    step = distributed._PIECE_BYTES // buffer.itemsize
    pieces = [buffer[start : start + step] for start in range(0, size, step)]

    def in_pieces() -> None:
        for piece in pieces:
            comm.Allreduce(MPI.IN_PLACE, piece, MPI.SUM)

    def ddp_sync() -> None:  # what a backward's post-accumulate hooks do, in engine order
        ddp._start_round()
        for p, g in zip(params, grads):
            p._grad = g
        for p in reversed(params):
            ddp._grad_ready(p)

    for p, g in zip(view_params, grads):  # the first backward: each bucket takes its gradients
        p._grad = g
    view_ddp._start_round()
    for p in reversed(view_params):
        view_ddp._grad_ready(p)

    def view_sync() -> None:  # later backward passes accumulated into the buckets
        view_ddp._start_round()
        for p in reversed(view_params):
            view_ddp._grad_ready(p)

    ways = [
        ("raw", raw),
        ("ours", ours),
        ("avg", average),
        ("pieces", in_pieces),
        ("ddp", ddp_sync),
        ("view", view_sync),
    ]
    for _, run in ways:  # warm up: the buckets' arrays, MPI's shared-memory paths
        run()
    times: dict[str, list[float]] = {name: [] for name, _ in ways}
    for index in range(repeats):
        for name, run in ways if index % 2 else ways[::-1]:
            comm.Barrier()
            times[name].append(_elapsed(run))
    return {name: _slowest(comm, t) for name, t in times.items()}


def training_step_table(repeat: int, batch: int) -> None:
    """Rank 0 trains on the whole batch while the others sleep, then every rank on its share,
    in turn, ``repeat`` times; with the default threads, then one thread per rank."""
    import lossgrad.distributed as dist

    rank, size = dist.get_rank(), dist.get_world_size()
    features, hidden, classes = 256, 512, 64
    if rank == 0:
        print()
        print(
            f"training step, MLP {features}-{hidden}-{classes}, global batch {batch}, float32, "
            f"median of {repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    for threads in ("default", 1):
        with _threads(threads):
            one, many = _step_times(repeat, batch, (features, hidden, classes))
        if rank == 0:
            print(
                f"  {'default threads' if threads == 'default' else '1 thread a rank':<15}: "
                f"1 rank {one * 1e3:7.1f} ms, {size} ranks {many * 1e3:7.1f} ms: "
                f"speed-up {one / many:.2f}x (ideal {size}x)"
            )


def _threads(threads):
    """The thread count of NumPy's BLAS and of lossgrad's pool, for the with-block."""
    import contextlib

    from lossgrad import _parallel

    if threads == "default":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its threads: the row then says less
        blas = contextlib.nullcontext()
    else:
        blas = threadpool_limits(threads)
    stack = contextlib.ExitStack()
    stack.enter_context(blas)
    previous = _parallel.get_num_threads()
    _parallel.set_num_threads(threads)
    stack.callback(_parallel.set_num_threads, previous)
    return stack


def _step_times(repeat: int, batch: int, widths: tuple[int, int, int]) -> tuple[float, float]:
    import lossgrad as torch
    import lossgrad.distributed as dist
    import lossgrad.nn.functional as F
    from lossgrad.nn.parallel import DistributedDataParallel

    rank, size = dist.get_rank(), dist.get_world_size()
    comm = dist.group.WORLD._comm
    features, hidden, classes = widths
    rng = np.random.default_rng(0)
    x_all = rng.standard_normal((batch, features)).astype(np.float32)
    y_all = rng.integers(0, classes, batch)

    def trainer(group_size: int):
        group = dist.new_group(list(range(group_size)))
        if group is dist.GroupMember.NON_GROUP_MEMBER:
            return None
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes)
        )
        ddp = DistributedDataParallel(model, process_group=group)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)
        share = slice(rank * batch // group_size, (rank + 1) * batch // group_size)
        x, y = torch.from_numpy(x_all[share]), torch.from_numpy(y_all[share])

        def step() -> None:
            optimizer.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            optimizer.step()

        step()
        return step

    alone, together = trainer(1), trainer(size)
    ones, manys = [], []
    for _ in range(repeat):
        _quiet_barrier(comm)
        ones.append(_elapsed(alone) if alone is not None else 0.0)
        _quiet_barrier(comm)
        manys.append(_elapsed(together))
    return float(np.median(_slowest(comm, ones))), float(np.median(_slowest(comm, manys)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M-10M parameters only")
    parser.add_argument("--repeat", type=int, default=9, help="repeats (at least; more for small)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", help="parameter counts (default 1M-100M)")
    parser.add_argument("--batch", type=int, default=4096, help="training step: global batch")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    if not options.worker:  # start this file on the ranks
        from lossgrad.distributed import launch

        mpiexec = launch.find_mpiexec()
        if mpiexec is None:
            sys.exit("mpiexec not found: pip install 'lossgrad[distributed]'")
        args = [*sys.argv[1:], "--worker"]
        sys.exit(subprocess.call(launch.command(options.ranks, __file__, args, mpiexec)))
    import lossgrad.distributed as dist

    dist.init_process_group("mpi")
    allreduce_table(options.sizes or (QUICK_SIZES if options.quick else SIZES), options.repeat)
    training_step_table(options.repeat, options.batch)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
