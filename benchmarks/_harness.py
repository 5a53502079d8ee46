"""Side-by-side timing of lossgrad and torch in one process, printed as ratios.

``compare(rows)`` takes rows of ``(name, lossgrad_fn, torch_fn)``, where each fn runs one
forward+backward on inputs prepared beforehand. Repeats are interleaved (lossgrad, torch,
lossgrad, ...) so that machine noise hits both sides alike; the median of each side is kept and
the ratio lossgrad/torch printed (below 1.0: lossgrad is faster).

Before each side's timing the harness busy-waits :data:`SETTLE` seconds: torch's OpenMP threads
keep spinning on the cores for a while after each parallel region, and a side timed right after
the other library would share the cores with those spinning threads (on 2 cores this slowed
lossgrad's 2-thread kernels by up to 1.6x). Busy-waiting (not sleeping) keeps the calling core
awake, so each side runs as it would alone in a process.

Calls of seconds (a 32000-word head, a fused preference loss): after one warm-up call of each
side, :data:`VERY_SLOW_REPEATS` single calls of each side, interleaved (lossgrad, reference,
lossgrad, reference, ...), and the median of each side, so that one call slowed by the shared
machine does not decide the row (a single timed call per side did). It costs
``2 * (VERY_SLOW_REPEATS - 1)`` calls of each such row more per column than one timed call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

Row = tuple[str, Callable[[], object], Callable[[], object]]
#: A lazy case: ``make()`` builds the inputs and returns ``(lossgrad_fn, reference_fn)``.
Make = Callable[[], tuple[Callable[[], object], Callable[[], object]]]


#: Seconds of busy-waiting before each timed run (see the module docstring).
SETTLE = 0.02
#: A side whose single call takes longer than this is timed with one call per run and at most
#: :data:`SLOW_REPEATS` runs (a Sinkhorn or a 128k-vocabulary head: seconds per call).
SLOW = 0.1
SLOW_REPEATS = 3
#: A side whose first call takes longer than this is timed by :data:`VERY_SLOW_REPEATS`
#: interleaved single calls per side after that warm-up (no calibration calls).
VERY_SLOW = 2.0
VERY_SLOW_REPEATS = 3


def _settle() -> None:
    end = time.perf_counter() + SETTLE
    while time.perf_counter() < end:
        pass


def _time_once(fn: Callable[[], object], inner: int, settle: bool = True) -> float:
    if settle:
        _settle()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def _inner_count(fn: Callable[[], object], budget: float = 0.02) -> int:
    """Calls per timed run so that a run lasts about ``budget`` seconds, from the warm time of
    one call (the best of three back-to-back calls). The first call after a pause runs 5-10x
    slower on both sides (cold caches); estimated from such a call, a fast side would get a
    short run in which that one slow call weighs more."""
    t = min(_time_once(fn, 1, settle=False) for _ in range(3))
    return max(1, min(1000, int(budget / max(t, 1e-7))))


def measure(
    lg: Callable[[], object], th: Callable[[], object], repeats: int = 7
) -> tuple[float, float]:
    """Median seconds per call of each side, interleaved."""
    cold = max(_time_once(lg, 1, settle=False), _time_once(th, 1, settle=False))  # warm-up
    if cold > VERY_SLOW:  # seconds per call: the warm-up was the cold call
        return _interleaved_single_calls(lg, th, VERY_SLOW_REPEATS)
    if max(_time_once(lg, 1, settle=False), _time_once(th, 1, settle=False)) > SLOW:
        n_lg = n_th = 1
        repeats = min(repeats, SLOW_REPEATS)
    else:
        n_lg, n_th = _inner_count(lg), _inner_count(th)
    a, b = [], []
    for _ in range(repeats):
        a.append(_time_once(lg, n_lg))
        b.append(_time_once(th, n_th))
    return statistics.median(a), statistics.median(b)


def measure_single_calls(
    lg: Callable[[], object], th: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """The median of ``repeats`` interleaved single calls of each side after one warm-up call
    each, for calls of seconds (``measure`` spends more calls calibrating)."""
    lg(), th()
    return _interleaved_single_calls(lg, th, repeats)


def _interleaved_single_calls(
    lg: Callable[[], object], th: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """The median of ``repeats`` single calls of each side, interleaved (warm-up done)."""
    a, b = [], []
    for _ in range(repeats):
        a.append(_time_once(lg, 1))
        b.append(_time_once(th, 1))
    return statistics.median(a), statistics.median(b)


def made(rows: Sequence[tuple[str, Make]]) -> list[Row]:
    """Lazy rows ``(name, make)`` as ``(name, lossgrad_fn, reference_fn)``, inputs built."""
    return [(name, *make()) for name, make in rows]


def compare(rows: Sequence[Row], repeats: int = 7) -> list[tuple[str, float, float, float]]:
    """Time every row, print a table, return ``(name, lossgrad_s, torch_s, ratio)`` rows."""
    out = []
    print(f"{'case':<44} {'lossgrad':>11} {'torch':>11} {'ratio':>7}")
    for name, lg, th in rows:
        t_lg, t_th = measure(lg, th, repeats)
        ratio = t_lg / t_th
        out.append((name, t_lg, t_th, ratio))
        print(f"{name:<44} {t_lg * 1e6:>9.1f}us {t_th * 1e6:>9.1f}us {ratio:>7.2f}")
    if out:
        gm = statistics.geometric_mean(r for *_, r in out)
        print(f"{'geometric mean of ratios':<68} {gm:>7.2f}")
    return out
