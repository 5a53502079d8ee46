"""Differential fuzzing against torch in CI: a fixed seed and a small budget per loss.

Every case compares value, dtype, shape, NaN/inf positions, first and second gradients,
exception class, warnings, and that inputs are untouched (see ``harness``); disagreements of
the declared forms (``deviations``) are not failures. Longer runs:
``LOSSGRAD_FUZZ_BUDGET=5000 LOSSGRAD_FUZZ_SEED=7 pytest tests/fuzz`` or
``python -m tests.fuzz.run --budget 100000 --seed 1 2 3``.
"""

from __future__ import annotations

import os

import pytest

from .cases import LOSSES
from .run import run

BUDGET = int(os.environ.get("LOSSGRAD_FUZZ_BUDGET", "150"))
SEED = int(os.environ.get("LOSSGRAD_FUZZ_SEED", "20261206"))

# Disagreements the fuzzer still finds with the fixed seed; each entry fails today (strict), so
# the marker has to go when it is fixed.
OPEN_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "loss",
    [
        pytest.param(loss, marks=pytest.mark.xfail(strict=True, reason=OPEN_BUGS[loss]))
        if loss in OPEN_BUGS and "LOSSGRAD_FUZZ_BUDGET" not in os.environ
        else loss
        for loss in LOSSES
    ],
)
def test_fuzz_against_torch(loss):
    cases, counts, failures = run(BUDGET, SEED, (loss,))
    assert cases >= BUDGET // 2
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n".join(failures[:5])
