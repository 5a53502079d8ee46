"""The benchmark suite: every loss, lossgrad vs torch or vs the library that defines it,
forward+backward, as ratios, in two columns: each library with its default threads, and one
thread each.

Run from the repository root::

    python benchmarks/suite.py                 # full run; rewrites docs/benchmarks.md
    python benchmarks/suite.py --quick         # small cases only, no memory probes, no file
    python benchmarks/suite.py --family regression --only mse --no-memory
    python benchmarks/suite.py --family language --merge   # re-measure one family's rows

The rows come from the family scripts (``bench_regression.py``, ``bench_classification.py``,
``bench_margin.py``, ``bench_ctc.py``, ``engine.py`` against torch; ``bench_robust.py``,
``bench_segmentation.py``, ``bench_contrastive.py``, ``bench_structured.py``,
``bench_language.py`` against their reference libraries), so each case is defined once: each
script's ``rows(quick)`` gives ``(name, make)`` pairs, ``make()`` building the inputs and
returning one forward+backward of each side. For every row both sides run on identical inputs in
this process, with interleaved repeats (``_harness.measure``), first with each library's default
threading, then at one thread each (``torch.set_num_threads(1)``,
``lossgrad._parallel.set_num_threads(1)``, NumPy's BLAS through threadpoolctl): the per-core
efficiency of the kernels, which noise from the other core barely moves. The suite makes several
rounds (whole passes over the rows); the table shows the median time of each side and the median
ratio lossgrad / reference over the rounds (below 1.0: lossgrad is faster), and the geometric
means. A row whose call takes more than :data:`ONE_ROUND` seconds is measured in the first round
only; one whose call takes seconds (``_harness.VERY_SLOW``) is timed by
``_harness.VERY_SLOW_REPEATS`` interleaved single calls per side after a warm-up, the median of
each side (about ten rows of seconds: about 5 minutes more per full run than one timed call
per side).

Large cases (at least :data:`LARGE` elements, or a call of at least :data:`SLOW_CALL` seconds)
get two more columns:

* **peak memory**: each side runs the case in a fresh subprocess; after its inputs are built the
  process's resident set is read (``VmRSS``) and its high-water mark reset
  (``/proc/self/clear_refs``),
  then forward+backward runs twice (once when a call takes seconds) and the peak is ``VmHWM``
  minus that baseline. The same
  method for both sides (both allocate through the C allocator, here told to map every block above
  64 KiB on its own and return it when freed, so no cached free block hides a peak); code pages
  first touched by the call count too.
* **roofline** (elementwise losses): the bytes that must move (the forward reads every input once,
  the backward reads them again and writes the input's gradient once) divided by the time, as a
  fraction of the copy bandwidth measured on arrays of the same size (the better of a one-thread
  ``np.copyto`` and the same copy split over lossgrad's thread pool).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import VERY_SLOW, VERY_SLOW_REPEATS, Make, measure  # noqa: E402
from lossgrad import _parallel  # noqa: E402

#: Cases with at least this many elements get peak-memory (and roofline) columns.
LARGE = 500_000
#: ... and so do cases whose lossgrad or reference call takes at least this many seconds.
SLOW_CALL = 0.002
#: A row whose call takes longer than this is measured in the first round only.
ONE_ROUND = 0.25
#: Family -> its script; the first group is measured against torch, the rest against the
#: reference libraries that define the losses.
TORCH_FAMILIES = {
    "regression": "bench_regression",
    "classification": "bench_classification",
    "margin": "bench_margin",
    "ctc": "bench_ctc",
    "training": "engine",
}
REFERENCE_FAMILIES = {
    "robust": "bench_robust",
    "segmentation": "bench_segmentation",
    "contrastive": "bench_contrastive",
    "structured": "bench_structured",
    "language": "bench_language",
}
SCRIPTS = {**TORCH_FAMILIES, **REFERENCE_FAMILIES}
FAMILIES = tuple(SCRIPTS)
DOC = HERE.parent / "docs" / "benchmarks.md"


@dataclass
class Case:
    family: str
    name: str
    make: Make
    elements: int
    itemsize: int = 4
    arrays_moved: int | None = (
        None  # the roofline's count of n-element arrays (None: not elementwise)
    )
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def against_torch(self) -> bool:
        return self.family in TORCH_FAMILIES


def _elements(name: str) -> int:
    """The problem size a row's label states: the product of its n/N/C/D/T/V values, or of
    its ``AxBxC`` shape."""
    dims = dict(re.findall(r"\b([nNCDTV])=([0-9.e+]+)", name))
    if dims:
        return math.prod(int(float(v)) for v in dims.values())
    shape = re.search(r"\b(\d+(?:x\d+)+)\b", name)
    return math.prod(int(v) for v in shape.group(1).split("x")) if shape else 0


def _script(family: str) -> Any:
    if family not in SCRIPTS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return importlib.import_module(SCRIPTS[family])


def _family_rows(family: str, sizes: list[int] | None, quick: bool) -> list[Case]:
    """The rows of one family script, as Cases."""
    script = _script(family)
    if family == "regression":
        return [
            Case(family, name, make, _elements(name), 4, script.arrays_moved(name))
            for name, make in script.rows(quick, sizes=sizes)
        ]
    rows = script.rows(quick, **getattr(script, "SUITE_ROWS", {}))
    return [Case(family, name, make, _elements(name)) for name, make in rows]


def collect(
    families: list[str], sizes: list[int] | None, only: str | None, quick: bool
) -> tuple[list[Case], list[str]]:
    """All selected cases, and one note per family that could not be loaded."""
    cases: list[Case] = []
    skipped: list[str] = []
    for fam in families:
        try:
            rows = _family_rows(fam, sizes, quick)
        except Exception as exc:  # a family whose losses are missing must not stop the suite
            skipped.append(f"{fam}: {type(exc).__name__}: {exc}")
            continue
        cases += [c for c in rows if not only or only in c.name]
    return cases, skipped


@contextlib.contextmanager
def one_thread_each() -> Iterator[None]:
    """torch, lossgrad's pool and NumPy's BLAS at one thread (restored afterwards)."""
    from threadpoolctl import threadpool_limits

    torch_threads, pool_threads = torch.get_num_threads(), _parallel.get_num_threads()
    torch.set_num_threads(1)
    _parallel.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(torch_threads)
        _parallel.set_num_threads(pool_threads)


def measure_case(case: Case, repeats: int) -> dict[str, tuple[float, float]]:
    """Seconds per call of (lossgrad, reference) in both columns, on freshly built inputs."""
    lg, ref = case.make()
    default = measure(lg, ref, repeats)
    with one_thread_each():
        single = measure(lg, ref, repeats)
    return {"default": default, "single": single}


# -- memory ------------------------------------------------------------------------------------


def _rss_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _probe(family: str, name: str, side: str, sizes: list[int] | None) -> None:
    """Child process: print the peak RSS (MiB) of one side of one case above its baseline."""
    case = next(c for c in _family_rows(family, sizes, quick=False) if c.name == name)
    lg, ref = case.make()
    fn = lg if side == "lossgrad" else ref
    import gc

    gc.collect()
    base = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    start = time.perf_counter()
    fn()
    if time.perf_counter() - start < ONE_ROUND:  # a second call where it is cheap
        fn()
    print(json.dumps({"peak_mib": (_rss_kb("VmHWM") - base) / 1024}))


# glibc: every allocation above 64 KiB is its own mapping, returned to the system when freed, so
# the resident set follows what each library holds live (no cached free blocks hide a peak).
_PROBE_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def peak_memory(case: Case, sizes: list[int] | None) -> tuple[float, float]:
    """Peak MiB above baseline of (lossgrad, reference), each side in a fresh subprocess."""
    out = []
    for side in ("lossgrad", "reference"):
        cmd = [sys.executable, __file__, "--probe", case.family, case.name, side]
        cmd += ["--sizes", *map(str, sizes)] if sizes else []
        res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_PROBE_ENV)
        out.append(json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"])
    return out[0], out[1]


# -- roofline ----------------------------------------------------------------------------------


def copy_bandwidth(n: int, itemsize: int = 4, repeats: int = 7) -> float:
    """Bytes per second of the best measured copy of ``n`` elements (read + write)."""
    src = np.random.default_rng(0).standard_normal(n).astype(f"f{itemsize}")
    dst = np.empty_like(src)

    def one() -> None:
        np.copyto(dst, src)

    def split() -> None:
        _parallel.map_blocks(lambda lo, hi: np.copyto(dst[lo:hi], src[lo:hi]), n)

    best = 0.0
    for fn in (one, split):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(10):
                fn()
            times.append((time.perf_counter() - t0) / 10)
        best = max(best, 2 * n * itemsize / statistics.median(times))
    return best


# -- output ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), lossgrad thread pool: "
        f"{_parallel.get_num_threads()} threads"
    )


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


HEADER = [
    "case",
    "lossgrad",
    "reference",
    "ratio",
    "ratio, 1 thread each",
    "peak MiB lossgrad / reference",
    "roofline lossgrad / reference",
]


def _cells(c: Case) -> list[str]:
    r = c.result
    mem = f"{r['mem'][0]:.1f} / {r['mem'][1]:.1f}" if "mem" in r else ""
    roof = f"{r['roofline'][0]:.0%} / {r['roofline'][1]:.0%}" if "roofline" in r else ""
    times = [_fmt_time(r["lg"]), _fmt_time(r["ref"])]
    return [c.name, *times, f"{r['ratio']:.2f}", f"{r['ratio_single']:.2f}", mem, roof]


def print_row(cells: list[str]) -> None:
    print(
        f"{cells[0]:<52} {cells[1]:>10} {cells[2]:>10} {cells[3]:>6} {cells[4]:>6} "
        f"{cells[5]:>15} {cells[6]:>9}"
    )


# Why a row can stay above 1.0: the limits as measured while optimizing (printed with the table).
LIMITS = [
    "Where lossgrad is slower, the limit is one of these (measured on this machine):",
    "",
    "- *Per-call cost at small sizes.* A lossgrad loss's forward is Python plus one NumPy call",
    "  per step, about 1 us each here, where torch runs one C++ kernel: the losses torch writes",
    "  as a single kernel (multi_margin, multilabel_margin) are the hardest at N=16.",
    "- *Passes at large sizes.* A fused lossgrad kernel makes one NumPy pass per ufunc (in",
    "  blocks, one block per thread); torch makes one vectorized pass per direction.",
    "- *Two cores.* Each NumPy call takes the GIL on its way out, so two threads of NumPy calls",
    "  hand the GIL back and forth; a second thread gains lossgrad 1.1-1.6x where torch's OpenMP",
    "  kernels gain up to 2x. The one-thread column removes this (and most of the noise).",
    "- *Compiled references.* JAX references run under `jax.jit` with XLA's own threading in",
    "  both columns (XLA's thread count is fixed when JAX starts).",
    "- *Noise.* The machine is a shared virtual machine: rows near 1.0 move by 20-50% from one",
    "  run to the next in the default column (torch's two-thread times most), which is why each",
    "  row is the median of several rounds and why the one-thread column is shown beside it.",
]


def _above_one(ratio: float) -> bool:
    """A ratio above 1.0 as the table prints it (two decimals)."""
    return round(ratio, 2) > 1.0


def _summary(cases: list[Case], what: str) -> list[str]:
    if not cases:
        return []
    gm = statistics.geometric_mean(c.result["ratio"] for c in cases)
    gm_single = statistics.geometric_mean(c.result["ratio_single"] for c in cases)
    slow = [c.name for c in cases if _above_one(c.result["ratio"])]
    slow_single = [c.name for c in cases if _above_one(c.result["ratio_single"])]
    return [
        f"**{what}** ({len(cases)} rows): geometric mean of the ratios **{gm:.2f}** with each",
        f"library's default threads, **{gm_single:.2f}** at one thread each. Rows above 1.0:",
        f"{len(slow)} by default" + (" (" + ", ".join(slow) + ")" if slow else ""),
        f"and {len(slow_single)} at one thread"
        + (" (" + ", ".join(slow_single) + ")." if slow_single else "."),
        "",
    ]


def _table(cases: list[Case], reference: str) -> list[str]:
    header = [reference if h == "reference" else h for h in HEADER]
    return [
        '<div class="lossgrad-benchmarks" markdown>',
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *("| " + " | ".join(_cells(c)) + " |" for c in cases),
        "",
        "</div>",
        "",
    ]


def markdown(
    cases: list[Case],
    notes: list[str],
    command: str,
    date: str | None = None,
    machine_text: str | None = None,
) -> str:
    """The benchmarks page: the summary and a chart of the ratios (drawn by the docs build from
    the tables), the tables, then how it was measured and why a row can stay above 1.0."""
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    torch_cases = [c for c in cases if c.against_torch]
    reference_cases = [c for c in cases if not c.against_torch]
    references = [
        f"{family}: {_script(family).REFERENCE}"
        for family in REFERENCE_FAMILIES
        if any(c.family == family for c in reference_cases)
    ]
    lines = [
        "# Benchmarks",
        "",
        "Forward+backward time, lossgrad / the reference on identical inputs (below 1: lossgrad is",
        "faster), with each library's default threads and with one thread each.",
        "",
        *_summary(torch_cases, "torch's losses, against torch"),
        *_summary(reference_cases, "Losses beyond torch, against the libraries that define them"),
        f"Measured {date} on {machine_text or machine()}. Command: `{command}`. The page is",
        "generated by `benchmarks/suite.py` (do not edit by hand). The machine is shared and",
        "noisy: ratios from the same run are comparable, absolute times less so.",
        "",
        "<!-- lossgrad:benchmark-chart -->",
        "",
    ]
    if torch_cases:
        lines += ["## torch's losses", "", *_table(torch_cases, "torch")]
    if reference_cases:
        lines += [
            "## Losses beyond torch",
            "",
            "Each row names its reference: the library the tests compare with, run on torch",
            "(or JAX) in this process; where the defining library does not run on torch, its",
            "formula written with torch ops. References:",
            "",
            *(f"- {r}" for r in references),
            "",
            *_table(reference_cases, "reference"),
        ]
    lines += [
        "## How it is measured",
        "",
        "Forward+backward time of every loss in lossgrad and in the reference, on identical",
        "inputs in one process, with interleaved repeats; the median of each side and the ratio.",
        "Each row is measured twice: with each library's default threading (torch's intra-op",
        "pool on all cores, lossgrad's thread pool for large kernels, NumPy's BLAS threads), and",
        "at one thread each (torch, lossgrad's pool and NumPy's BLAS), the per-core efficiency of",
        "the kernels. The suite makes several passes (rounds) over all rows, and each row shows",
        "the median over the rounds, so that a slow spell of the shared machine hits one round of",
        f"a row rather than the row. Rows whose call takes more than {ONE_ROUND} s are measured",
        "in one round with three repeats; when a call takes more than",
        f"{VERY_SLOW:g} s, each side makes {VERY_SLOW_REPEATS} single calls after a warm-up call,",
        "interleaved with the other side's (lossgrad, reference, lossgrad, ...), and the median",
        "of each side is kept, so that no single call slowed by the shared machine decides the",
        "row. Before each side's timing the harness busy-waits 20 ms, so that neither",
        "library runs beside the other's still-spinning threads, and each timed run makes as",
        "many calls as fit in about 20 ms at the warm time of one call.",
        "",
        "**Peak memory** (rows of at least 500,000 elements or 2 ms): each side runs the case",
        "alone in a fresh subprocess; after its inputs are built the resident set is read and its",
        "high-water mark reset, forward+backward runs twice (once for rows of seconds), and the",
        "column is the peak above that baseline (same method for both sides; glibc is told to",
        "map each block above 64 KiB on its own and unmap it when freed, so cached free blocks",
        "hide no peak; code pages first touched by the call count).",
        "",
        "**Roofline** (large elementwise losses): bytes that must move (forward reads each input",
        "once; backward reads them again and writes the input gradient once) / time, as a fraction",
        "of the best copy bandwidth measured on arrays of the same size; torch's fraction, by",
        "the same count, beside it.",
        "",
    ]
    if any(_above_one(c.result["ratio"]) or _above_one(c.result["ratio_single"]) for c in cases):
        lines += ["## Rows above 1.0", "", *LIMITS, ""]
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


# -- re-measuring some families into the page ---------------------------------------------------

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3}
_MEASURED = re.compile(r"^Measured (.+?) on (.+)\. Command: `(.+)`\. The page is$")


def _parse_time(text: str) -> float:
    value, unit = text.split()
    return float(value) * _TIME_UNITS[unit]


def page_cases(text: str) -> list[Case]:
    """The measured rows of a page that `markdown` wrote, as Cases in the page's order (each
    with its family, from the family scripts; a row no script offers any more is dropped)."""
    family_of = {c.name: c.family for c in collect(list(FAMILIES), None, None, False)[0]}
    cases = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(HEADER) or cells[0] not in family_of:
            continue
        name, lg, ref, ratio, ratio_single, mem, roof = cells
        case = Case(family_of[name], name, _not_measured, _elements(name))
        case.result = dict(
            lg=_parse_time(lg),
            ref=_parse_time(ref),
            ratio=float(ratio),
            ratio_single=float(ratio_single),
        )
        if mem:
            case.result["mem"] = tuple(float(v) for v in mem.split(" / "))
        if roof:
            case.result["roofline"] = tuple(float(v.rstrip("%")) / 100 for v in roof.split(" / "))
        cases.append(case)
    return cases


def _not_measured() -> Any:
    raise RuntimeError("a row read from the page is not measured again")


def merged_page(page: str, measured: list[Case], notes: list[str], command: str) -> str:
    """``page`` with the rows of the families in ``measured`` replaced by these (in their
    scripts' order; the other families' rows as the page has them), the summaries recomputed,
    and the header saying which rows were measured when."""
    families = {c.family for c in measured}
    kept = [c for c in page_cases(page) if c.family not in families]
    cases = [c for family in FAMILIES for c in kept + measured if c.family == family]
    header = next((m for m in map(_MEASURED.match, page.splitlines()) if m), None)
    if header is None:
        raise ValueError("the page has no 'Measured ... Command: ...' line to merge into")
    old_date, machine_text, old_command = header.groups()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    date = f"{old_date}; the {', '.join(sorted(families))} rows re-measured {now}"
    old_notes = page.split("\nNotes:\n", 1)[1].splitlines() if "\nNotes:\n" in page else []
    # a family's notes start with its name; the copy bandwidths are the regression rows'
    owners = [f"{f}:" for f in families] + (["measured copy"] if "regression" in families else [])
    kept_notes = [
        n[2:] for n in old_notes if n.startswith("- ") and not n[2:].startswith(tuple(owners))
    ]
    return markdown(
        cases,
        kept_notes + [n for n in notes if n not in kept_notes],
        f"{old_command}`, then `{command}",
        date,
        machine_text,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--family", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    parser.add_argument("--quick", action="store_true", help="small cases only, fewer repeats")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="element counts of the regression family (default: bench_regression.SIZES)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 7)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="passes over the whole suite; a row's ratio is the median over them (default 3)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument(
        "--markdown",
        default=None,
        help=f"write the table here (default: {DOC.relative_to(HERE.parent)} for a"
        " full run, nothing for --quick/--only/--family)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="measure the chosen families (all their rows) and put them into the page, keeping"
        " the other families' rows as they are",
    )
    parser.add_argument(
        "--probe", nargs=3, metavar=("FAMILY", "CASE", "SIDE"), help=argparse.SUPPRESS
    )
    return parser


def _run_rounds(cases: list[Case], rounds: int, repeats: int, notes: list[str]) -> None:
    """Measure every case in each round (whole passes: a slow spell hits one round of a row);
    a case slower than :data:`ONE_ROUND` per call is measured in the first round only."""
    failed: set[str] = set()
    for r in range(rounds):
        if rounds > 1:
            print(f"# round {r + 1} of {rounds}")
        for c in cases:
            runs = c.result.setdefault("runs", [])
            if c.name in failed or (runs and max(runs[0]["default"]) > ONE_ROUND):
                continue
            try:
                runs.append(measure_case(c, repeats))
            except Exception as exc:  # a failing case is reported, not fatal
                failed.add(c.name)
                c.result.clear()
                notes.append(f"{c.name}: failed: {type(exc).__name__}: {exc}")
                print(f"{c.name:<52} failed: {type(exc).__name__}: {exc}")


def _summarize(c: Case) -> bool:
    """Medians over the rounds into ``c.result``; False for a case that failed."""
    runs = c.result.pop("runs", None)
    if not runs:
        return False
    default = [run["default"] for run in runs]
    single = [run["single"] for run in runs]
    c.result.update(
        lg=statistics.median(a for a, _ in default),
        ref=statistics.median(b for _, b in default),
        ratio=statistics.median(a / b for a, b in default),
        ratio_single=statistics.median(a / b for a, b in single),
    )
    return True


def main(argv: list[str] | None = None) -> list[Case]:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.merge and (args.only or args.quick):
        parser.error("--merge re-measures whole families: not with --only or --quick")
    if args.probe:
        _probe(*args.probe, args.sizes)
        return []
    repeats = args.repeats or (3 if args.quick else 7)
    cases, skipped = collect(args.family, args.sizes, args.only, args.quick)
    notes = [f"family not run: {n}" for n in skipped]
    loaded = [f for f in args.family if not any(n.startswith(f"{f}:") for n in skipped)]
    if not args.quick:  # what the family scripts say about rows the suite leaves out
        notes += [_script(f).SUITE_NOTE for f in loaded if hasattr(_script(f), "SUITE_NOTE")]
    bandwidth: dict[tuple[int, int], float] = {}
    print(f"# {machine()}")
    _run_rounds(cases, args.rounds or (1 if args.quick else 3), repeats, notes)
    print_row(["case", "lossgrad", "ref", "ratio", "1 thr", "peak MiB lg/ref", "roof lg/ref"])
    done = []
    for c in cases:
        if not _summarize(c):
            continue
        done.append(c)
        if c.elements >= LARGE and c.arrays_moved is not None:
            key = (c.elements, c.itemsize)
            if key not in bandwidth:
                bandwidth[key] = copy_bandwidth(*key)
            moved = c.arrays_moved * c.elements * c.itemsize / bandwidth[key]
            c.result["roofline"] = (moved / c.result["lg"], moved / c.result["ref"])
        large = c.elements >= LARGE or max(c.result["lg"], c.result["ref"]) >= SLOW_CALL
        if large and not args.no_memory and not args.quick:
            try:
                c.result["mem"] = peak_memory(c, args.sizes)
            except (subprocess.CalledProcessError, ValueError, KeyError) as exc:
                notes.append(f"{c.name}: memory probe failed: {exc}")
        print_row(_cells(c))
    for group in (
        [c for c in done if c.against_torch],
        [c for c in done if not c.against_torch],
    ):
        if group:
            gm = statistics.geometric_mean(c.result["ratio"] for c in group)
            gm1 = statistics.geometric_mean(c.result["ratio_single"] for c in group)
            against = "torch" if group[0].against_torch else "references"
            print(f"# geometric mean vs {against}: {gm:.2f} default, {gm1:.2f} one thread")
    for (n, size), bw in sorted(bandwidth.items()):
        notes.append(f"measured copy bandwidth, {n} elements of {size} bytes: {bw / 1e9:.1f} GB/s")
    for n in notes:
        print(f"# {n}")
    full = not (args.quick or args.only or set(args.family) != set(FAMILIES))
    target = args.markdown or (str(DOC) if full or args.merge else None)
    if target:
        command = "python benchmarks/suite.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
        if args.merge:
            page = merged_page(Path(target).read_text(), done, notes, command.strip())
        else:
            page = markdown(done, notes, command.strip())
        Path(target).write_text(page)
        print(f"# wrote {target}")
    return done


if __name__ == "__main__":
    main()
