"""lossgrad against an earlier lossgrad: is a change neutral on the benchmark suite?

The suite (``suite.py``) times lossgrad against torch; a rewrite of lossgrad's internals asks a
different question — did any row get slower than before the change? This script runs the
lossgrad side of the suite's rows for two source trees, back to back on the same machine::

    python benchmarks/compare_revisions.py BEFORE AFTER [--family regression ...] [--rounds 3]

``BEFORE`` and ``AFTER`` are git revisions of this repository (their ``src/`` is exported to a
temporary directory) or paths of source trees (a directory holding the ``lossgrad`` package).
The rows are the current checkout's family scripts, so both trees run the same workload; a row
that one tree cannot run (a loss it does not have) is listed as missing.

Method: each tree runs in a worker process of its own (the two packages never share an
interpreter), and the parent interleaves their timed runs row by row — warm-up, a calibrated
number of calls per run, then ``--repeats`` runs of each side alternately, medians kept — as
``_harness.measure`` does for lossgrad against torch in one process. A worker blocked on its
pipe does not run, so each timed run has the machine as a single process would. Both columns
of the suite are measured: each tree with its default threads, then one thread each. A row's
ratio is AFTER / BEFORE (above 1.0: slower after), the median over ``--rounds`` passes.

The noise floor comes from the same measurement with BEFORE against itself (``--noise``: two
workers of one tree): the largest |log ratio| of a row that cannot have changed is what the
machine alone does. A row of the real comparison beyond that floor is flagged.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COLUMNS = ("default", "single")


# -- the worker: one source tree, commands on stdin, one JSON answer per line --------------------


def _worker(family: str) -> None:
    """Serve ``rows``, ``build i``, ``calibrate i column``, ``time i column inner``, ``free i``."""
    import contextlib
    import importlib

    sys.path.insert(0, str(HERE))
    from _harness import _inner_count, _time_once
    from lossgrad import _parallel
    from suite import SCRIPTS

    script = importlib.import_module(SCRIPTS[family])
    rows = script.rows(False, **getattr(script, "SUITE_ROWS", {}))
    built: dict[int, Any] = {}
    default_threads = _parallel.get_num_threads()

    def threads(column: str) -> contextlib.AbstractContextManager[Any]:
        from threadpoolctl import threadpool_limits

        _parallel.set_num_threads(1 if column == "single" else default_threads)
        return threadpool_limits(limits=1) if column == "single" else contextlib.nullcontext()

    def answer(value: Any) -> None:
        print(json.dumps(value), flush=True)

    for line in sys.stdin:
        command, *args = line.split()
        try:
            if command == "rows":
                answer([name for name, _ in rows])
            elif command == "build":  # inputs made and one call run: a missing loss shows here
                built[int(args[0])] = rows[int(args[0])][1]()[0]
                built[int(args[0])]()
                answer("ok")
            elif command == "free":
                built.pop(int(args[0]), None)
                answer("ok")
            elif command == "calibrate":
                with threads(args[1]):
                    answer(_inner_count(built[int(args[0])]))
            elif command == "time":
                with threads(args[1]):
                    answer(_time_once(built[int(args[0])], int(args[2])))
        except Exception as error:  # noqa: BLE001 - a tree that lacks a loss: reported, not fatal
            answer({"error": f"{type(error).__name__}: {error}"})


# -- the parent --------------------------------------------------------------------------------


class Worker:
    """One source tree's worker process for one family."""

    def __init__(self, src: Path, family: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", family],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**_environment(), "PYTHONPATH": str(src)},
        )

    def ask(self, *command: object) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(" ".join(map(str, command)) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@dataclass
class Row:
    family: str
    name: str
    times: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    missing: str = ""

    def ratio(self, column: str) -> float:
        return statistics.median(after / before for before, after in self.times[column])


def _failed(answer: Any) -> str:
    return answer["error"] if isinstance(answer, dict) else ""


def _time_pair(before: Worker, after: Worker, index: int, column: str, repeats: int) -> tuple:
    """Median seconds per call of each tree on row ``index``, runs interleaved."""
    inner = [before.ask("calibrate", index, column), after.ask("calibrate", index, column)]
    runs: tuple[list[float], list[float]] = ([], [])
    for repeat in range(repeats):
        order = (0, 1) if repeat % 2 == 0 else (1, 0)
        for side in order:
            worker = (before, after)[side]
            runs[side].append(worker.ask("time", index, column, inner[side]))
    return statistics.median(runs[0]), statistics.median(runs[1])


def compare_family(
    before_src: Path, after_src: Path, family: str, only: str | None, repeats: int
) -> list[Row]:
    """One pass over a family's rows: both columns, both trees."""
    before, after = Worker(before_src, family), Worker(after_src, family)
    try:
        names = after.ask("rows")
        rows = []
        for index, name in enumerate(names):
            if only and only not in name:
                continue
            row = Row(family, name)
            rows.append(row)
            row.missing = _failed(before.ask("build", index)) or _failed(after.ask("build", index))
            if not row.missing:
                for column in COLUMNS:
                    row.times[column] = [_time_pair(before, after, index, column, repeats)]
            before.ask("free", index), after.ask("free", index)
            print(_line(row), flush=True)
        return rows
    finally:
        before.close(), after.close()


def _line(row: Row) -> str:
    if row.missing:
        return f"{row.family:<15} {row.name:<58} missing ({row.missing[:60]})"
    cells = " ".join(f"{row.ratio(column):>8.3f}" for column in COLUMNS)
    return f"{row.family:<15} {row.name:<58} {cells}"


def source_tree(revision: str, workdir: Path) -> Path:
    """A directory holding the ``lossgrad`` package of ``revision`` (a path, or a git revision
    of this repository exported with ``git archive``)."""
    path = Path(revision)
    if (path / "lossgrad").is_dir():
        return path.resolve()
    if (path / "src" / "lossgrad").is_dir():
        return (path / "src").resolve()
    target = workdir / revision.replace("/", "_")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def run(
    before_src: Path,
    after_src: Path,
    families: list[str],
    only: str | None,
    rounds: int,
    repeats: int,
) -> list[Row]:
    """``rounds`` passes; each row keeps every pass's medians."""
    rows: dict[tuple[str, str], Row] = {}
    for number in range(rounds):
        print(f"# round {number + 1} of {rounds}: AFTER / BEFORE, default threads, one thread")
        for family in families:
            for row in compare_family(before_src, after_src, family, only, repeats):
                kept = rows.setdefault((family, row.name), row)
                if kept is not row:
                    kept.missing = kept.missing or row.missing
                    for column in row.times:
                        kept.times.setdefault(column, []).extend(row.times[column])
    return list(rows.values())


def summary(rows: list[Row], floor: dict[str, float] | None) -> list[str]:
    """The geometric mean per column and the rows beyond the noise floor (|log ratio|)."""
    measured = [row for row in rows if not row.missing]
    lines = [f"rows measured: {len(measured)}; missing in one tree: {len(rows) - len(measured)}"]
    for column in COLUMNS:
        ratios = [row.ratio(column) for row in measured]
        if not ratios:
            continue
        lines.append(
            f"{column:>8}: geometric mean {statistics.geometric_mean(ratios):.3f}, "
            f"slowest {max(ratios):.3f}, fastest {min(ratios):.3f}"
        )
        if floor:
            beyond = [
                f"  {row.name} {row.ratio(column):.3f}"
                for row in measured
                if math.log(row.ratio(column)) > floor[column]
            ]
            lines.append(
                f"          slower than the noise floor ({math.exp(floor[column]):.3f}): "
                f"{len(beyond)}"
            )
            lines += beyond
    return lines


def noise_floor(rows: list[Row]) -> dict[str, float]:
    """The largest |log ratio| per column in a comparison of a tree with itself."""
    measured = [row for row in rows if not row.missing]
    return {column: max(abs(math.log(row.ratio(column))) for row in measured) for column in COLUMNS}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision or source tree")
    parser.add_argument("after", help="git revision or source tree")
    parser.add_argument("--family", nargs="+", default=None, help="default: torch's families")
    parser.add_argument("--only", default=None, help="rows whose name contains this")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--noise", action="store_true", help="first compare BEFORE with itself: the noise floor"
    )
    return parser


def main(argv: list[str] | None = None) -> list[Row]:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        before = source_tree(args.before, Path(workdir))
        after = source_tree(args.after, Path(workdir))
        sys.path.insert(0, str(after))  # suite.py imports lossgrad: the AFTER tree's
        from suite import TORCH_FAMILIES

        families = args.family or list(TORCH_FAMILIES)
        floor = None
        if args.noise:
            print(f"# noise: {args.before} against itself")
            same = run(before, before, families, args.only, args.rounds, args.repeats)
            floor = noise_floor(same)
            print("\n".join(summary(same, None)))
        print(f"# {args.after} / {args.before}")
        rows = run(before, after, families, args.only, args.rounds, args.repeats)
    print("\n".join(summary(rows, floor)))
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
    else:
        main()
