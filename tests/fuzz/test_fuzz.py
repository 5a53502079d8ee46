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

# Bugs found by the fuzzer in code that is being rewritten elsewhere; each entry fails with the
# fixed seed today (strict), so the marker has to go when the bug is fixed.
_ELSEWHERE = " (loss_margin.py / loss_classification.py, rewritten on another branch)"
OPEN_BUGS: dict[str, str] = {
    "gaussian_nll_loss": "float16 second gradient in var: inf where torch's composite gives NaN",
    "sigmoid_focal_loss": "create_graph on 0-d input raises; TypeError class for a float"
    + _ELSEWHERE,
    "cosine_embedding_loss": "second gradient of D = 1 rows: rounding noise of a value that is "
    "0 up to torch's 1e-12 epsilon, beyond the tolerance model",
    "triplet_margin_loss": "float16 norms not computed in float32" + _ELSEWHERE,
    "cross_entropy": "NaN positions of the gradient with infinite logits" + _ELSEWHERE,
    "focal_loss": "NaN positions of the gradient with infinite logits" + _ELSEWHERE,
    "multi_margin_loss": "float16 empty batch raises where torch skips the dtype check"
    + _ELSEWHERE,
    "multilabel_margin_loss": "float16 empty batch raises where torch skips the dtype check"
    + _ELSEWHERE,
}


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
