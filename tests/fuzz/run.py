"""Long local fuzz runs: ``PYTHONPATH=src python -m tests.fuzz.run --budget 100000 --seed 1``.

Prints the number of cases, the declared deviations seen, and every failure (with the case, so
it can be replayed). Exit status 1 when any case failed outside the declared deviations.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings

from hypothesis import HealthCheck, given, seed, settings

from .cases import LOSSES, any_case
from .harness import check_case


def run(
    budget: int, start_seed: int, losses: tuple[str, ...] = LOSSES, verbose: bool = True
) -> tuple[int, collections.Counter, list[str]]:
    counts: collections.Counter = collections.Counter()
    failures: list[str] = []
    seen = [0]

    @seed(start_seed)
    @settings(
        max_examples=budget,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],
    )
    @given(any_case(losses))
    def one(case):  # type: ignore[no-untyped-def]
        seen[0] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = check_case(case)
            except Exception as error:  # noqa: BLE001 - a crash in the harness is a failure too
                failures.append(f"{case.describe()}\n    harness error {error!r}")
                return
        counts.update(result.deviations)
        if result.failures:
            failures.append(f"{case.describe()}\n    " + "\n    ".join(result.failures))
            counts["failure:" + case.loss] += 1

    one()
    return seen[0], counts, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=int, default=2000, help="cases per seed")
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--loss", nargs="*", default=list(LOSSES))
    parser.add_argument("--show", type=int, default=20, help="failures to print")
    args = parser.parse_args(argv)
    total, bad = 0, 0
    for s in args.seed:
        started = time.perf_counter()
        cases, counts, failures = run(args.budget, s, tuple(args.loss))
        total += cases
        bad += len(failures)
        print(
            f"seed {s}: {cases} cases in {time.perf_counter() - started:.0f}s, "
            f"{len(failures)} failures; {dict(counts)}",
            flush=True,
        )
        for failure in failures[: args.show]:
            print("  " + failure, flush=True)
    print(f"total {total} cases, {bad} failures outside the declared deviations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
