"""The thread pool of large kernels (lossgrad._parallel), and parity of the blocked loss paths.

The loss parity grids use small inputs, which run in one block; here inputs above
``MIN_PARALLEL`` go through the split, blocked kernels and are compared with torch again.
"""

import collections
import queue
import threading
import time
import warnings

import numpy as np
import pytest

from lossgrad import _parallel
from parity import check

N_LARGE = _parallel.MIN_PARALLEL + 12_345  # several blocks, an uneven last one


def test_small_work_is_one_inline_call():
    calls = []
    out = _parallel.map_blocks(lambda lo, hi: calls.append((lo, hi, threading.get_ident())), 1000)
    assert calls == [(0, 1000, threading.get_ident())] and out == [None]


def test_blocks_cover_the_range_in_order():
    n = N_LARGE
    blocks = _parallel.map_blocks(lambda lo, hi: (lo, hi), n)
    assert len(blocks) > 1
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(blocks, blocks[1:]))
    assert all(hi - lo <= _parallel.BLOCK for lo, hi in blocks)


def test_work_is_split_across_threads():
    if _parallel.get_num_threads() < 2:
        pytest.skip("one usable core: the pool is off")
    seen = set()
    # the threads take blocks in turn: each waits in its first block until all have one (a
    # pool thread that woke late would otherwise find the blocks taken)
    all_started = threading.Barrier(_parallel.get_num_threads(), timeout=30)

    def block(lo, hi):
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            all_started.wait()

    _parallel.map_blocks(block, N_LARGE)
    assert len(seen) == _parallel.get_num_threads()


def test_the_caller_takes_over_the_blocks_of_a_late_pool_thread():
    if _parallel.get_num_threads() < 2:
        pytest.skip("one usable core: the pool is off")
    caller, count = threading.get_ident(), -(-N_LARGE // _parallel.BLOCK)
    owners = {}

    def block(lo, hi):
        owners[lo] = threading.get_ident()
        deadline = time.monotonic() + 30
        # a pool thread stalls in its first block until every block has been taken
        while threading.get_ident() != caller and len(owners) < count:
            assert time.monotonic() < deadline, "the caller left blocks to a stalled thread"
            time.sleep(0.001)

    _parallel.map_blocks(block, N_LARGE)
    assert sorted(owners) == list(range(0, N_LARGE, _parallel.BLOCK))
    ran = collections.Counter(owners.values())
    assert all(n == 1 for thread, n in ran.items() if thread != caller)


def test_the_caller_does_not_wait_for_a_pool_thread_that_took_no_block():
    if _parallel.get_num_threads() < 2:
        pytest.skip("one usable core: the pool is off")
    release, finished = threading.Event(), queue.SimpleQueue()
    workers = _parallel._get_workers()
    for jobs in workers:  # every pool thread busy (until released, at most 30 s)
        jobs.put((0, release.wait, (30,), finished))
    start = time.monotonic()
    try:
        owners = _parallel.map_blocks(lambda lo, hi: threading.get_ident(), N_LARGE)
        elapsed = time.monotonic() - start
    finally:
        release.set()
        for _ in workers:
            finished.get()
    # the caller ran every block and returned without waiting for the busy threads
    assert set(owners) == {threading.get_ident()} and elapsed < 15


def test_wide_blocks_are_one_per_thread_within_bounds():
    k = _parallel.get_num_threads()
    assert _parallel.wide_block(1000) == _parallel.BLOCK
    assert _parallel.wide_block(10**6) == max(_parallel.BLOCK, min(1 << 18, -(-(10**6) // k)))
    assert _parallel.wide_block(10**8) == 1 << 18


@pytest.mark.parametrize("per_element", [False, True])
def test_scale_multiplies_in_place(per_element):
    a = rng.standard_normal(N_LARGE)
    c = rng.standard_normal(N_LARGE) if per_element else np.float64(-2.5)
    want = a * c
    out = _parallel.scale(a, c)
    assert out is a and np.array_equal(a, want)


def test_an_error_in_a_pool_thread_reaches_the_caller():
    if _parallel.get_num_threads() < 2:
        pytest.skip("one usable core: the pool is off")
    main, pool_started = threading.get_ident(), threading.Event()

    def fn(lo, hi):
        if threading.get_ident() != main:
            pool_started.set()
            raise KeyError(lo)
        pool_started.wait(30)  # the caller leaves a block to a pool thread
        return lo

    with pytest.raises(KeyError):
        _parallel.map_blocks(fn, N_LARGE)
    assert _parallel.map_parts(lambda i: i * 10, 2) == [0, 10]  # the pool still works


def test_nested_work_in_a_pool_thread_runs_inline():
    """A kernel that splits again from inside a pool thread does not wait on itself."""
    inner = _parallel.map_parts(lambda i: _parallel.map_parts(lambda j: (i, j), 2), 2)
    assert inner == [[(0, 0), (0, 1)], [(1, 0), (1, 1)]]


@pytest.mark.parametrize("threads", [1, 3, 4])
def test_more_or_fewer_threads_than_cores(threads):
    old = _parallel.get_num_threads()
    try:
        _parallel.set_num_threads(threads)
        x = np.arange(4 * N_LARGE, dtype=np.float64)
        blocks = _parallel.map_blocks(lambda lo, hi: (lo, hi, x[lo:hi].sum()), x.size)
        assert [b[:2] for b in blocks] == [
            (lo, min(lo + _parallel.BLOCK, x.size)) for lo in range(0, x.size, _parallel.BLOCK)
        ]
        assert sum(b[2] for b in blocks) == x.sum()
    finally:
        _parallel.set_num_threads(old)


def test_map_rows_keeps_rows_whole():
    rows, width = 8000, 100  # above MIN_PARALLEL elements
    got = _parallel.map_rows(lambda r0, r1: (r0, r1), rows, width)
    assert got[0][0] == 0 and got[-1][1] == rows and len(got) > 1
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))


@pytest.mark.parametrize("threads", [1, 2])
def test_map_products_keeps_each_product_below_blas_threading(threads):
    old = _parallel.get_num_threads()
    try:
        _parallel.set_num_threads(threads)
        rows, columns, width = 1024, 1024, 5
        got = _parallel.map_products(lambda r0, r1: (r0, r1), rows, columns, width)
        assert got[0][0] == 0 and got[-1][1] == rows
        assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
        largest = max(r1 - r0 for r0, r1 in got)
        if threads == 1:  # no pool threads beside BLAS's: the blocks of map_rows
            assert len(got) == len(_parallel.map_rows(lambda r0, r1: 0, rows, columns))
        else:
            assert (
                largest * columns * width
                <= _parallel.SERIAL_PRODUCT
                < 2 * largest * columns * width
            )
    finally:
        _parallel.set_num_threads(old)


def test_set_num_threads():
    old = _parallel.get_num_threads()
    try:
        _parallel.set_num_threads(1)
        x = np.arange(N_LARGE, dtype=np.float64)
        total = _parallel.block_sum(lambda lo, hi: x[lo:hi].sum(), x.size, np.float64)
        assert total == x.sum() and total.shape == ()
        with pytest.raises(ValueError, match="positive"):
            _parallel.set_num_threads(0)
    finally:
        _parallel.set_num_threads(old)


def test_scratch_is_reused_and_private_to_a_thread():
    a = _parallel.scratch(10, np.float32)
    b = _parallel.scratch(20, np.float32)
    assert a.base is b.base and b.dtype == np.float32 and b.shape == (20,)
    assert _parallel.scratch(10, np.float32, slot=1).base is not a.base
    other = []
    t = threading.Thread(target=lambda: other.append(_parallel.scratch(10, np.float32)))
    t.start()
    t.join()
    assert other[0].base is not a.base


def test_flat():
    a, b = np.zeros((3, 4)), np.ones((3, 4))
    fa, fb = _parallel.flat(a, b)
    assert fa.shape == (12,) and np.shares_memory(fa, a)
    assert _parallel.flat(a, np.ones((1, 4))) is None  # broadcast
    assert _parallel.flat(a, b.T.copy().T) is None  # strided


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("size", [0, 5, _parallel.BLOCK + 3])
def test_total_is_the_sum_and_the_dot_product(dtype, size):
    a = rng.uniform(-4, 4, size).astype(dtype)
    b = rng.uniform(-4, 4, size).astype(dtype)
    ref_a, ref_ab = a.astype(np.float64).sum(), (a.astype(np.float64) * b).sum()
    tol = {np.float16: 1e-2, np.float32: 1e-4}.get(dtype, 1e-12) * max(size, 1)
    s, d = _parallel.total(a), _parallel.total(a, b)
    assert np.asarray(s).dtype == dtype and np.asarray(d).dtype == dtype
    assert abs(float(s) - ref_a) <= tol and abs(float(d) - ref_ab) <= tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_total_propagates_nan_and_inf(dtype):
    assert np.isnan(_parallel.total(np.array([1.0, np.nan, 2.0], dtype)))
    assert _parallel.total(np.array([1.0, np.inf], dtype)) == np.inf
    with np.errstate(invalid="ignore"):  # as inside every op
        assert np.isnan(_parallel.total(np.array([np.inf, -np.inf], dtype)))


def test_workers_are_quiet():
    """NumPy's floating-point warnings stay off in the pool's threads (inf - inf, 0 / 0)."""
    import lossgrad

    x = np.full(N_LARGE, np.inf, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = lossgrad.nn.functional.mse_loss(
            lossgrad.tensor(x, requires_grad=True), lossgrad.tensor(x)
        )
        loss.backward()
    assert np.isnan(loss.item())


rng = np.random.default_rng(11)
SHAPE = (N_LARGE // 100, 100)


def _large(low=-3.0, high=3.0, dtype=np.float32):
    return rng.uniform(low, high, SHAPE).astype(dtype)


# (name, call, argument factories, grad positions)
BLOCKED = [
    ("l1_loss", lambda F, a, b, r: F.l1_loss(a, b, reduction=r)),
    ("mse_loss", lambda F, a, b, r: F.mse_loss(a, b, reduction=r)),
    ("smooth_l1_loss", lambda F, a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.7)),
    ("huber_loss", lambda F, a, b, r: F.huber_loss(a, b, reduction=r, delta=0.6)),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name,call", BLOCKED, ids=[b[0] for b in BLOCKED])
def test_blocked_regression_losses_match_torch(name, call, reduction):
    check(
        lambda lib, a, b: call(lib.nn.functional, a, b, reduction),
        [_large(), _large()],
        grad=(0, 1),
        second_order=False,
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_blocked_bce_with_logits_matches_torch(reduction):
    x = _large(-40.0, 40.0)  # both tails: exp(-|x|) underflows, log1p's small-argument branch
    check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction=reduction
        ),
        [x, _large(0.0, 1.0)],
        grad=(0, 1),
        second_order=False,
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "soft_margin_loss"])
def test_a_costly_kernel_is_split_below_min_parallel_and_matches_torch(
    monkeypatch, name, reduction
):
    """A kernel of exponentials and logarithms (`Pointwise.work` 2) goes over the pool from
    ``MIN_PARALLEL / 2`` elements: 3e5 here, in two blocks, one per thread."""
    threads = _parallel.get_num_threads()
    _parallel.set_num_threads(2)
    calls = []
    real = _parallel.map_blocks

    def counting(fn, n, block=_parallel.BLOCK, work=None):
        calls.append((n, work))
        return real(fn, n, block, work)

    monkeypatch.setattr(_parallel, "map_blocks", counting)
    n = 300_000
    assert n < _parallel.MIN_PARALLEL <= 2 * n
    x = rng.uniform(-30.0, 30.0, n).astype(np.float32)
    target = (
        np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
        if name == "soft_margin_loss"
        else rng.uniform(0.0, 1.0, n).astype(np.float32)
    )
    try:
        check(
            lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction),
            [x, target],
            second_order=False,
        )
    finally:
        _parallel.set_num_threads(threads)
    assert (n, 2 * n) in calls


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_blocked_bce_matches_torch(reduction):
    x = _large(0.0, 1.0)
    x[0, :3] = [0.0, 1.0, 1e-30]  # torch's clamps of the logs (-100) and of the denominator
    check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b, reduction=reduction),
        [x, _large(0.0, 1.0)],
        grad=(0, 1),
        second_order=False,
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_blocked_soft_margin_matches_torch(reduction):
    y = np.where(_large() < 0, -1.0, 1.0).astype(np.float32)
    check(
        lambda lib, a, b: lib.nn.functional.soft_margin_loss(a, b, reduction=reduction),
        [_large(-20.0, 20.0), y],
        second_order=False,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_mse_keeps_dtype_and_elementwise_grad_output(dtype):
    check(
        lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction="none") * 1.5,
        [_large(dtype=dtype), _large(dtype=dtype)],
        grad=(0,),
        second_order=False,
    )


@pytest.mark.parametrize("p", [1, 2])
def test_blocked_multi_margin_matches_torch(p):
    n, c = SHAPE
    x = _large()
    x[0, 0] = np.nan  # a NaN margin is never active
    t = rng.integers(0, c, n)
    check(
        lambda lib, a, y: lib.nn.functional.multi_margin_loss(a, y, p=p),
        [x, t],
        second_order=False,
    )


@pytest.mark.parametrize("finite", [True, False])
def test_blocked_multilabel_margin_matches_torch(finite):
    n, c = SHAPE
    x = _large()
    if not finite:
        x[1, :4] = [np.inf, -np.inf, np.nan, 2.0]
    t = np.where(rng.random((n, c)) < 0.5, rng.integers(0, c, (n, c)), -1)
    t[:, 5:] = -1
    check(
        lambda lib, a, y: lib.nn.functional.multilabel_margin_loss(a, y),
        [x, t],
        second_order=False,
    )


@pytest.mark.parametrize(
    "kw",
    [{}, {"label_smoothing": 0.1}, {"ignore_index": 3, "reduction": "sum"}, {"reduction": "none"}],
    ids=["plain", "smoothing", "ignore-sum", "none"],
)
def test_blocked_cross_entropy_matches_torch(kw):
    n, c = SHAPE
    t = rng.integers(0, c, n)
    t[:5] = 3
    w = rng.uniform(0.5, 2.0, c).astype(np.float32)
    check(
        lambda lib, a, y, wt: lib.nn.functional.cross_entropy(a, y, weight=wt, **kw),
        [_large(-5.0, 5.0), t, w],
        second_order=False,
    )
