"""A first end-to-end parity check of the engine through mse_loss."""

import numpy as np
import pytest

from parity import check

rng = np.random.default_rng(0)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_parity(reduction, dtype):
    x = rng.standard_normal((4, 3)).astype(dtype)
    y = rng.standard_normal((4, 3)).astype(dtype)
    check(
        lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction=reduction), [x, y], grad=(0, 1)
    )


def test_composite_chain_second_order():
    x = rng.standard_normal((5, 4))
    w = rng.standard_normal((4, 3))
    check(
        lambda lib, a, b: (lib.tanh(a @ b).exp() * a.sum(1, keepdim=True)).log_softmax(1).sum(0),
        [x, w],
        grad=(0, 1),
    )
