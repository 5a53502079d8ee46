"""A small thread pool that splits large array work across the machine's cores.

NumPy releases the GIL inside ufunc loops and reductions, so a large elementwise kernel split
into contiguous pieces runs on several cores at once. The pieces are also cut into
cache-sized blocks: a fused kernel that makes several NumPy calls per block keeps its temporaries
in L2 instead of streaming each one through main memory.

Only work above ``MIN_PARALLEL`` elements is split (below it, the pool's hand-off costs more
than it saves); small calls run inline with no overhead beyond one comparison.

    >>> import numpy as np
    >>> from lossgrad import _parallel
    >>> x = np.arange(10.0)
    >>> float(sum(_parallel.map_blocks(lambda lo, hi: x[lo:hi].sum(), x.size)))
    45.0
"""

from __future__ import annotations

import contextvars
import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from lossgrad._backend import dot as _dot

T = TypeVar("T")

#: Elements below which work runs inline, in one piece (2^19: on two cores one piece of
#: 3e5 elements beat two, see benchmarks/NOTES.md).
MIN_PARALLEL = 1 << 19
#: Elements per cache block (float32: 256 KiB per array, a few arrays fit in L2).
BLOCK = 1 << 16

_lock = threading.Lock()
_local = threading.local()
_workers: list[queue.SimpleQueue[Any]] | None = None
_threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def get_num_threads() -> int:
    """How many threads large kernels are split across (default: the usable cores)."""
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for large kernels (1 turns the pool off)."""
    global _threads
    if n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n}")
    with _lock:
        _threads = int(n)
        _stop_workers()


def _stop_workers() -> None:
    global _workers
    if _workers is not None:
        for q in _workers:
            q.put(None)
        _workers = None


def _worker(jobs: queue.SimpleQueue[Any]) -> None:
    """A pool thread: runs ``(i, fn, args, results)`` jobs until it gets None; each outcome goes
    to the caller's ``results`` queue as ``(i, True, value)`` or ``(i, False, exception)``
    (``results`` None: the job reports its own outcomes)."""
    _local.in_pool = True
    while (job := jobs.get()) is not None:
        i, fn, args, results = job
        del job
        try:
            outcome = (i, True, fn(*args))
        except BaseException as exc:  # handed to the caller, which re-raises it
            outcome = (i, False, exc)
        # hold nothing of a finished job (its closure's arrays) while waiting for the next one
        del fn, args
        if results is not None:
            results.put(outcome)
        del outcome, results


def _get_workers() -> list[queue.SimpleQueue[Any]]:
    """The job queues of the ``_threads - 1`` pool threads (started on first use).

    A bare queue per daemon thread, not a ``ThreadPoolExecutor``: a cheaper round trip (no
    futures, no shared work queue; see benchmarks/NOTES.md).
    """
    global _workers
    if _workers is None:
        with _lock:
            if _workers is None:
                queues: list[queue.SimpleQueue[Any]] = []
                for i in range(_threads - 1):
                    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
                    threading.Thread(
                        target=_worker, args=(q,), name=f"lossgrad-{i}", daemon=True
                    ).start()
                    queues.append(q)
                _workers = queues
    return _workers


def _after_fork() -> None:  # a forked child has none of the parent's threads
    global _workers, _lock
    _workers, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _fan_out(fn: Callable[..., T], args: list[tuple[Any, ...]]) -> list[T]:
    """``[fn(*a) for a in args]`` with ``args[0]`` on the calling thread and the others on the
    pool threads, each in a copy of the caller's context (NumPy's floating-point error state
    carries over). Called from a pool thread it runs everything inline (no nested waits)."""
    if len(args) == 1 or getattr(_local, "in_pool", False):
        return [fn(*a) for a in args]
    workers = _get_workers()
    results: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
    for i, a in enumerate(args[1:], 1):  # a context copy per job: one can't be entered twice
        workers[(i - 1) % len(workers)].put((i, contextvars.copy_context().run, (fn, *a), results))
    out: list[Any] = [None] * len(args)
    error: BaseException | None = None
    try:
        out[0] = fn(*args[0])
    except BaseException as exc:
        error = exc
    for _ in range(len(args) - 1):  # wait for every job, even after an error
        i, ok, value = results.get()
        if ok:
            out[i] = value
        elif error is None:
            error = value
    if error is not None:
        raise error
    return out


def _run_range(fn: Callable[[int, int], T], lo: int, hi: int, block: int) -> list[T]:
    return [fn(s, min(s + block, hi)) for s in range(lo, hi, block)]


def map_blocks(
    fn: Callable[[int, int], T],
    n: int,
    block: int = BLOCK,
    work: int | None = None,
) -> list[T]:
    """``[fn(lo, hi) ...]`` over consecutive blocks covering ``range(n)``, in order.

    Small work (``work``, default ``n`` elements, below ``MIN_PARALLEL``) is one call
    ``fn(0, n)``. Larger work is cut into blocks of ``block`` that the threads take in turn
    from a shared counter, the calling thread first: a pool thread that wakes late (tens of
    microseconds on an idle core, a scheduler's time slice on a busy machine) takes fewer blocks
    instead of making the caller wait for it at the end, and the caller waits only for the
    blocks other threads took, not for a thread that woke after all were taken. ``fn`` must
    only write to disjoint slices (it runs concurrently). Workers run in a copy of the caller's
    context, so NumPy's floating-point error state (quiet inside every op) carries over.
    """
    w = n if work is None else work
    if w < MIN_PARALLEL or n <= block:
        return [fn(0, n)]
    if _threads == 1 or getattr(_local, "in_pool", False):
        return _run_range(fn, 0, n, block)
    count = -(-n // block)
    results: list[Any] = [None] * count
    claim = itertools.count().__next__  # atomic: one C call under the GIL
    taken: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()

    def take_blocks() -> None:  # a pool thread's share: each block's outcome to ``taken``
        while (i := claim()) < count:
            lo = i * block
            try:
                taken.put((i, True, fn(lo, min(lo + block, n))))
            except BaseException as exc:  # handed to the caller, which re-raises it
                taken.put((i, False, exc))

    workers = _get_workers()
    for k in range(min(_threads, count) - 1):
        workers[k % len(workers)].put((k, contextvars.copy_context().run, (take_blocks,), None))
    own, error = 0, None
    while (i := claim()) < count:
        own += 1
        lo = i * block
        try:
            results[i] = fn(lo, min(lo + block, n))
        except BaseException as exc:
            error = error or exc
    for _ in range(count - own):  # the blocks the pool threads took, even after an error
        i, ok, value = taken.get()
        if ok:
            results[i] = value
        elif error is None:
            error = value
    if error is not None:
        raise error
    return results


def wide_block(n: int) -> int:
    """The block for elementwise kernels of a few NumPy passes over ``n`` elements: one block per
    thread, of at most 2^18 elements (1 MiB of float32). Every NumPy call takes the GIL, so on
    several threads fewer, larger blocks pay; beyond 2^18 the gain flattens while the
    per-thread scratch buffers (which count in the peak memory) keep growing. On one thread the
    same 2^18: the arrays of a block's passes still meet in the cache, and the calls per element
    are a quarter of `BLOCK`'s (measurements in benchmarks/NOTES.md)."""
    return max(BLOCK, min(1 << 18, -(-n // _threads)))


def scale(a: np.ndarray, c: Any) -> np.ndarray:
    """``a *= c`` in place over the pool, returned; ``a`` C-contiguous, ``c`` a scalar or an array
    of ``a``'s shape (C-contiguous)."""
    f = a.reshape(-1)
    cf = c.reshape(-1) if np.ndim(c) else None

    def block(lo: int, hi: int) -> None:
        np.multiply(f[lo:hi], c if cf is None else cf[lo:hi], out=f[lo:hi])

    map_blocks(block, f.size, wide_block(f.size))
    return a


def map_parts(fn: Callable[[int], T], count: int) -> list[T]:
    """``[fn(0), ..., fn(count - 1)]``, one part per thread (the caller runs part 0); for work
    already cut into at most ``get_num_threads`` pieces (e.g. batch slices of a lattice)."""
    return _fan_out(fn, [(i,) for i in range(count)])


def map_rows(fn: Callable[[int, int], Any], rows: int, row_size: int) -> list[Any]:
    """``map_blocks`` over the rows of a 2-d problem: blocks hold whole rows.

    ``fn(r0, r1)`` handles rows ``r0:r1``; blocks hold about ``wide_block`` elements (at
    least one row), and the work is split across threads when ``rows * row_size`` is large.
    """
    work = rows * row_size
    return map_blocks(fn, rows, block=max(1, wide_block(work) // max(row_size, 1)), work=work)


#: Multiply-adds (``m n k``) up to which OpenBLAS computes a matrix product on the calling thread
#: alone. A larger product made on a pool thread starts BLAS's own threads beside the pool's, and
#: they spin on the same cores: several times slower on two cores, and far worse on a loaded
#: machine (benchmarks/NOTES.md).
SERIAL_PRODUCT = 1 << 18


def map_products(fn: Callable[[int, int], Any], rows: int, row_size: int, width: int) -> list[Any]:
    """`map_rows` for blocks that multiply their ``(r, row_size)`` rows with matrices of inner
    or outer dimension ``width``: on several threads, at most ``SERIAL_PRODUCT // (row_size *
    width)`` rows to a block (at least one), so that every product stays on its thread."""
    work = rows * row_size
    size = wide_block(work) // max(row_size, 1)
    if _threads > 1:
        size = min(size, SERIAL_PRODUCT // max(row_size * width, 1))
    return map_blocks(fn, rows, block=max(1, size), work=work)


def scratch(n: int, dtype: Any, slot: int = 0) -> np.ndarray:
    """A reusable buffer of ``n`` elements, private to the calling thread (contents undefined).

    Blocked kernels compute their temporaries here instead of allocating (and page-faulting) a
    fresh array per call. ``slot`` tells apart the buffers one kernel needs at the same time.
    """
    try:
        bufs = _local.bufs
    except AttributeError:
        bufs = _local.bufs = {}
    key = (slot, dtype)
    buf = bufs.get(key)
    if buf is None or buf.size < n:
        buf = bufs[key] = np.empty(max(n, BLOCK), dtype)
    return buf[:n]


_filled: dict[tuple[float, np.dtype], np.ndarray] = {}


def filled(value: float, n: int, dtype: Any) -> np.ndarray:
    """A read-only vector of ``n`` copies of ``value`` in ``dtype``, a view of one cached array
    per value and dtype: an array operand where NumPy's loop for a scalar one is slow (see
    ``ones``, ``fmax0``)."""
    dtype = np.dtype(dtype)
    buf = _filled.get((value, dtype))
    if buf is None or buf.size < n:
        buf = np.full(max(n, BLOCK), value, dtype)
        buf.flags.writeable = False
        _filled[value, dtype] = buf
    return buf[:n]


_ones: dict[Any, np.ndarray] = {}


def ones(n: int, dtype: Any) -> np.ndarray:
    """``filled`` with ones, looked up by ``dtype`` as given (the hot path of every blocked
    sum): sums as BLAS dot or matrix-vector products with it run several times faster than
    NumPy's (axis) sums on small blocks and rows."""
    buf = _ones.get(dtype)
    if buf is None or buf.size < n:
        buf = _ones[dtype] = filled(1, max(n, BLOCK), dtype)
    return buf[:n]


def fmax0(a: np.ndarray) -> np.ndarray:
    """``np.fmax(a, 0)`` (NaN becomes 0) in place on a C-contiguous ``a``, returned. Against a
    cached vector of zeros: NumPy's ``fmax`` and ``maximum`` loops with a scalar operand run
    slower than with two arrays (see benchmarks/NOTES.md)."""
    f = a.reshape(-1)
    np.fmax(f, filled(0, f.size, a.dtype), out=f)
    return a


def total(a: np.ndarray, b: np.ndarray | None = None) -> Any:
    """``a.sum()`` of a 1-d contiguous block in ``a``'s dtype, or ``(a * b).sum()`` when ``b`` is
    given, without a temporary.

    float32 and float64 go through BLAS's dot product (against a cached vector of ones for a plain
    sum), which runs faster than NumPy's pairwise float32 sum; its accuracy over one cache block
    is of the same order. Other dtypes use ``np.sum``.
    """
    if a.dtype.char not in "fd":
        return (a if b is None else a * b).sum(dtype=a.dtype)
    if b is None:
        b = ones(a.size, a.dtype)
    return _dot(a, b)


def flat(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """The arrays as 1-d views when all are C-contiguous with one shape, else None (the caller
    then takes its unblocked path: broadcasting or strided inputs)."""
    shape = arrays[0].shape
    for a in arrays:
        if a.shape != shape or not a.flags.c_contiguous:
            return None
    if len(arrays) == 2:  # the common case, without a comprehension's frame
        return [arrays[0].reshape(-1), arrays[1].reshape(-1)]
    return [a.reshape(-1) for a in arrays]


def block_sum(
    fn: Callable[[int, int], Any], n: int, dtype: Any, block: int = BLOCK, work: int | None = None
) -> np.ndarray:
    """``sum(fn(lo, hi))`` over ``map_blocks`` (blocks of ``block``, ``work`` as there), each
    ``fn`` a block's partial sum; the partials are added in float64 and the total returned as a
    0-d array of ``dtype``."""
    parts = map_blocks(fn, n, block, work)
    if len(parts) == 1:
        return np.asarray(parts[0], dtype)
    return np.asarray(np.sum(np.asarray(parts, np.float64)), dtype)
