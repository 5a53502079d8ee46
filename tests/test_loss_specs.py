"""Each pointwise and row loss states its math twice: a NumPy kernel (the loss and ∂l/∂x, for the
fast forward and first-order backward) and its derivatives written with lossgrad ops (for
create_graph and higher derivatives). These tests keep the two from drifting apart, on random
float64 inputs away from kinks:

* the kernel's ∂l/∂x (times the spec's constant factor) equals the ops formula's;
* every derivative of the formula equals a central finite difference of the kernel's loss;
* ``antisymmetric`` specs have ``∂l/∂y = -∂l/∂x``;
* ``block_sum`` equals the sum of the kernel's loss.

A row spec's kernel (a block of rows of classes) likewise: its ∂l/∂x times an upstream gradient
per row equals the ops formula, which equals a central finite difference of the kernel's losses.

The values themselves are checked against torch (or torchvision) by the loss families' tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lossgrad
from lossgrad.nn.functional import (
    _pointwise,
    _rows,
    loss_classification,
    loss_margin,
    loss_probability,
    loss_regression,
    loss_robust,
)

N = 257
RNG = np.random.default_rng(12)


def _normal(scale: float = 1.0) -> np.ndarray:
    return RNG.standard_normal(N) * scale


def _uniform(low: float, high: float) -> np.ndarray:
    return RNG.uniform(low, high, N)


def _signs() -> np.ndarray:
    return np.where(RNG.random(N) < 0.5, -1.0, 1.0)


def _binary() -> np.ndarray:
    return (RNG.random(N) < 0.5).astype(np.float64)


def _away_from(values: np.ndarray, kinks: list[float], gap: float = 1e-3) -> np.ndarray:
    """``values`` nudged so that none lies within ``gap`` of a kink."""
    for kink in kinks:
        near = np.abs(values - kink) < gap
        values[near] = kink + 2 * gap * np.sign(values[near] - kink + 1e-300)
    return values


def _difference_loss(
    kinks: Callable[[np.ndarray], list[float]], target_kinks: list[float] | None = None
) -> Callable[[], list[Any]]:
    """Operands ``x, y`` with ``x - y`` away from ``kinks(y)`` and ``y`` from ``target_kinks``."""

    def operands() -> list[Any]:
        y = _away_from(_normal(), target_kinks or [])
        x = y + _away_from(_normal(), kinks(y))
        return [x, y]

    return operands


def _smape_operands() -> list[Any]:
    """``y`` away from 0, ``x`` away from 0 and from ``y`` (the kinks of ``|x|``, ``|x - y|``)."""
    y = _signs() * _uniform(0.5, 2)
    return [_away_from(y + _away_from(_normal(2), [0.0]), [0.0]), y]


# name -> (spec, operands maker, params)
CASES: dict[str, tuple[_pointwise.Pointwise, Callable[[], list[Any]], tuple[Any, ...]]] = {
    "l1": (loss_regression._L1, _difference_loss(lambda y: [0.0]), ()),
    "mse": (loss_regression._MSE, _difference_loss(lambda y: []), ()),
    "huber": (loss_regression._HUBER, _difference_loss(lambda y: [-0.7, 0.7]), (0.7,)),
    "smooth_l1": (loss_regression._SMOOTH_L1, _difference_loss(lambda y: [-0.6, 0.6]), (0.6,)),
    "bce": (loss_probability._BCE, lambda: [_uniform(0.05, 0.95), _uniform(0, 1), None], ()),
    "bce_weighted": (
        loss_probability._BCE,
        lambda: [_uniform(0.05, 0.95), _uniform(0, 1), _uniform(0.5, 2)],
        (),
    ),
    "bce_with_logits": (
        loss_probability._BCE_WITH_LOGITS,
        lambda: [_normal(3), _uniform(0, 1), None, None],
        (),
    ),
    "bce_with_logits_weights": (
        loss_probability._BCE_WITH_LOGITS,
        lambda: [_normal(3), _uniform(0, 1), _uniform(0.5, 2), _uniform(0.5, 3)],
        (),
    ),
    "soft_margin": (loss_probability._SOFT_MARGIN, lambda: [_normal(2), _signs()], ()),
    "kl_div": (
        loss_probability._KL_DIV,
        lambda: [np.log(_uniform(0.05, 1)), _uniform(0.05, 1)],
        (False,),
    ),
    "kl_div_log_target": (
        loss_probability._KL_DIV,
        lambda: [np.log(_uniform(0.05, 1)), np.log(_uniform(0.05, 1))],
        (True,),
    ),
    "poisson_nll": (
        loss_probability._POISSON_NLL,
        lambda: [_normal(), RNG.integers(0, 5, N).astype(np.float64)],
        (True, 1e-8),
    ),
    "poisson_nll_rate": (
        loss_probability._POISSON_NLL,
        lambda: [_uniform(0.1, 3), RNG.integers(0, 5, N).astype(np.float64)],
        (False, 1e-8),
    ),
    "gaussian_nll": (
        loss_probability._GAUSSIAN_NLL,
        lambda: [_normal(), _normal(), _uniform(0.1, 2)],
        (False,),
    ),
    "gaussian_nll_full": (
        loss_probability._GAUSSIAN_NLL,
        lambda: [_normal(), _normal(), _uniform(0.1, 2)],
        (True,),
    ),
    "margin_ranking": (
        loss_margin._MARGIN_RANKING,
        lambda: [_normal(), _normal(), _signs()],
        (0.3,),
    ),
    "hinge_embedding": (
        loss_margin._HINGE_EMBEDDING,
        lambda: [_away_from(_normal(), [0.5]), _signs()],
        (0.5,),
    ),
    "sigmoid_focal_binary": (
        loss_classification._SIGMOID_FOCAL,
        lambda: [_normal(2), _binary()],
        (0.25, 2.0),
    ),
    "sigmoid_focal_soft": (
        loss_classification._SIGMOID_FOCAL,
        lambda: [_normal(2), _uniform(0.05, 0.95)],
        (0.25, 1.5),
    ),
    "sigmoid_focal_no_alpha": (
        loss_classification._SIGMOID_FOCAL,
        lambda: [_normal(2), _binary()],
        (-1.0, 2.0),
    ),
    "log_cosh": (loss_robust._LOG_COSH, _difference_loss(lambda y: []), ()),
    "pseudo_huber": (loss_robust._PSEUDO_HUBER, _difference_loss(lambda y: []), (0.7,)),
    "welsch": (loss_robust._WELSCH, _difference_loss(lambda y: []), (1.3,)),
    "cauchy": (loss_robust._CAUCHY, _difference_loss(lambda y: []), (0.8,)),
    "geman_mcclure": (loss_robust._GEMAN_MCCLURE, _difference_loss(lambda y: []), (1.1,)),
    "barron": (loss_robust._BARRON, _difference_loss(lambda y: []), (0.6, 1.2)),
    "barron_negative": (loss_robust._BARRON, _difference_loss(lambda y: []), (-3.0, 0.9)),
    **{
        f"barron_at_{alpha}": (spec, _difference_loss(lambda y: []), (1.4,))
        for alpha, spec in loss_robust._BARRON_LIMITS.items()
    },
    "pinball": (loss_robust._PINBALL, lambda: [*_difference_loss(lambda y: [0.0])(), None], (0.3,)),
    "pinball_quantiles": (
        loss_robust._PINBALL,
        lambda: [*_difference_loss(lambda y: [0.0])(), _uniform(0, 1)],
        (0.0,),
    ),
    "expectile": (loss_robust._EXPECTILE, _difference_loss(lambda y: [0.0]), (0.3,)),
    "mape": (loss_robust._MAPE, _difference_loss(lambda y: [0.0], [-0.1, 0.1]), (0.1,)),
    "smape": (loss_robust._SMAPE, _smape_operands, (1e-3,)),
    "msle": (
        loss_robust._MSLE,
        lambda: [_away_from(_normal(), [0.05]), _away_from(_normal(), [0.05])],
        (0.05,),
    ),
    "squared_hinge": (
        loss_robust._SQUARED_HINGE,
        lambda: [_away_from(_normal(2), [-1.0, 1.0]), _signs()],
        (1.0,),
    ),
    "perceptron": (loss_robust._PERCEPTRON, lambda: [_away_from(_normal(), [0.0]), _signs()], ()),
    **{
        f"asymmetric_{name}": (
            loss_robust._ASYMMETRIC,
            lambda clip=params[2], targets=targets: [
                _away_from(_normal(3), [np.log(clip / (1 - clip))] if clip else []),
                targets(),
            ],
            params,
        )
        for name, params, targets in [
            ("focusing_clipped", (4.0, 1.0, 0.05, 1e-8), _binary),
            ("focusing_soft", (3.0, 2.0, 0.1, 1e-8), lambda: _uniform(0, 1)),
            ("focusing_unclipped", (2.0, 1.0, 0.0, 1e-8), _binary),
            ("plain_clipped", (0.0, 0.0, 0.1, 1e-8), lambda: _uniform(0, 1)),
        ]
    },
    "tweedie": (loss_robust._TWEEDIE, lambda: [_uniform(0.5, 3), _uniform(0.5, 3)], (1.5,)),
    "tweedie_negative": (
        loss_robust._TWEEDIE,
        lambda: [_uniform(0.5, 3), _away_from(_normal(), [0.0])],
        (-1.0,),
    ),
    "tweedie_cubic": (loss_robust._TWEEDIE, lambda: [_uniform(0.5, 3), _uniform(0.5, 3)], (3.0,)),
    **{
        f"tweedie_power_{power}": (spec, lambda: [_uniform(0.5, 3), _uniform(0.5, 3)], ())
        for power, spec in loss_robust._TWEEDIE_CASES.items()
    },
}


# binary targets sit on the edge of their domain: no finite difference in the target there
AT_DOMAIN_EDGE = {"sigmoid_focal_binary": {1}, "sigmoid_focal_no_alpha": {1}}


def _kernel(spec: _pointwise.Pointwise, operands: list[Any], params: tuple[Any, ...]) -> Any:
    """The block kernel on the whole (flat) input: the loss and ∂l/∂x with the spec's factor."""
    loss, dldx = np.empty(N), np.empty(N)
    out = spec.block(*operands, *params, loss, dldx).copy()
    factor = 1.0 if spec.dldx_factor is None else spec.dldx_factor(*params)
    return out, dldx * factor


def _formula(
    spec: _pointwise.Pointwise, operands: list[Any], params: tuple[Any, ...]
) -> list[np.ndarray | None]:
    # operands that require grad: `gradients` may leave out those of the ones that do not
    tensors = [None if a is None else lossgrad.tensor(a, requires_grad=True) for a in operands]
    upstream = lossgrad.ones(N, dtype=lossgrad.float64)  # the gradients for an upstream 1
    if spec.gradients is not None:  # unreduced
        derivatives = spec.gradients(upstream, None, *tensors, *params)
    elif spec.composite_gradients is not None:
        derivatives = spec.composite_gradients(upstream, *tensors, *params)
    else:
        derivatives = spec.derivatives(*tensors, *params)
    return [None if d is None else d.detach().numpy() for d in derivatives]


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_gradient_matches_the_ops_formula(name):
    spec, make, params = CASES[name]
    operands = make()
    _, kernel_dldx = _kernel(spec, operands, params)
    formula = _formula(spec, operands, params)
    assert len(formula) == len(operands)
    np.testing.assert_allclose(kernel_dldx, formula[0], rtol=1e-10, atol=1e-12)
    if spec.antisymmetric:
        np.testing.assert_array_equal(formula[1], -formula[0])


@pytest.mark.parametrize("name", list(CASES))
def test_formula_is_the_derivative_of_the_kernel_loss(name):
    spec, make, params = CASES[name]
    operands = make()
    formula = _formula(spec, operands, params)
    step = 1e-6
    for k, derivative in enumerate(formula):
        if derivative is None or k in AT_DOMAIN_EDGE.get(name, ()):
            continue
        up = [a if i != k else a + step for i, a in enumerate(operands)]
        down = [a if i != k else a - step for i, a in enumerate(operands)]
        difference = (_kernel(spec, up, params)[0] - _kernel(spec, down, params)[0]) / (2 * step)
        np.testing.assert_allclose(difference, derivative, rtol=1e-5, atol=1e-6, err_msg=f"{k}")


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case[0].block_sum])
def test_block_sum_is_the_sum_of_the_block(name):
    spec, make, params = CASES[name]
    operands = make()
    loss, kernel_dldx = _kernel(spec, operands, params)
    assert spec.block_sum is not None
    factor = 1.0 if spec.dldx_factor is None else spec.dldx_factor(*params)
    # a block sum that applies the gradient's scale itself: with none, and with one
    for scale in (None, 0.25) if spec.sum_applies_scale else (None,):
        dldx = np.empty(N)
        scaled = (scale,) if spec.sum_applies_scale else ()
        total = spec.block_sum(*operands, *params, np.empty(N), dldx, *scaled)
        if total is None:  # declined: the driver sums the kernel's block, which it must do right
            x = lossgrad.tensor(operands[0], requires_grad=True)
            rest = [None if a is None else lossgrad.tensor(a) for a in operands[1:]]
            summed = _pointwise.apply(spec, [x, *rest], "sum", params)
            summed.backward()
            np.testing.assert_allclose(summed.item(), loss.sum(), rtol=1e-12)
            np.testing.assert_allclose(x.grad.numpy(), kernel_dldx, rtol=1e-12, atol=1e-15)
            continue
        np.testing.assert_allclose(total, loss.sum(), rtol=1e-12)
        expected = kernel_dldx if scale is None else kernel_dldx * scale
        np.testing.assert_allclose(dldx * factor, expected, rtol=1e-12, atol=1e-15)


# -- row specs: a kernel over a block of rows, and the upstream-weighted gradient in ops ---------

ROWS, CLASSES = 6, 5


def _class_targets(weighted: bool) -> Any:
    index = RNG.integers(0, CLASSES, ROWS)
    class_weight = RNG.uniform(0.5, 2, CLASSES) if weighted else None
    row_weight = None if class_weight is None else class_weight[index]
    return _rows.ClassTargets(index, row_weight, class_weight, out_shape=(ROWS,))


def _label_lists() -> Any:
    target = np.full((ROWS, CLASSES), -1)
    for row in range(ROWS):
        labels = RNG.permutation(CLASSES)[: RNG.integers(0, 4)]
        target[row, : labels.size] = labels
    valid = np.logical_and.accumulate(target >= 0, 1)
    return loss_margin._LabelLists(target, valid, (ROWS,))


# name -> (spec, targets maker, params)
ROW_CASES: dict[str, tuple[_rows.Rows, Callable[[], Any], tuple[Any, ...]]] = {
    "nll": (loss_classification._NLL, lambda: _class_targets(False), ()),
    "nll_weighted": (loss_classification._NLL, lambda: _class_targets(True), ()),
    "cross_entropy": (loss_classification._CROSS_ENTROPY, lambda: _class_targets(False), (0.0,)),
    "cross_entropy_smoothed_weighted": (
        loss_classification._CROSS_ENTROPY,
        lambda: _class_targets(True),
        (0.2,),
    ),
    "focal": (loss_classification._FOCAL, lambda: _class_targets(False), (2.0,)),
    "focal_weighted": (loss_classification._FOCAL, lambda: _class_targets(True), (1.5,)),
    "multi_margin_p1": (loss_margin._MULTI_MARGIN, lambda: _class_targets(True), (1, 0.7)),
    "multi_margin_p2": (loss_margin._MULTI_MARGIN, lambda: _class_targets(False), (2, 1.0)),
    "multilabel_margin": (loss_margin._MULTILABEL_MARGIN, _label_lists, ()),
}


def _row_kernel(spec: _rows.Rows, logits: np.ndarray, targets: Any, params: tuple) -> Any:
    """The row kernel on all rows at once, with the reduction's scale 1: losses and ∂l/∂x."""
    loss, dldx = np.empty(ROWS), np.empty((ROWS, CLASSES))
    if spec.sparse_gradient:  # the driver hands such a kernel zeros
        dldx[:] = 0
    spec.kernel(logits, targets, *params, loss, dldx, np.float64(1))
    return loss, dldx


@pytest.mark.parametrize("name", list(ROW_CASES))
def test_row_kernel_gradient_matches_the_ops_formula(name):
    spec, make, params = ROW_CASES[name]
    targets = make()
    logits = RNG.standard_normal((ROWS, CLASSES)) * 2
    upstream = RNG.standard_normal((ROWS, 1))
    _, dldx = _row_kernel(spec, logits, targets, params)
    formula = spec.derivative(
        lossgrad.tensor(logits), targets, *params, lossgrad.tensor(upstream)
    ).numpy()
    np.testing.assert_allclose(dldx * upstream, formula, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ROW_CASES))
def test_row_formula_is_the_derivative_of_the_kernel_loss(name):
    spec, make, params = ROW_CASES[name]
    targets = make()
    logits = RNG.standard_normal((ROWS, CLASSES)) * 2
    upstream = RNG.standard_normal(ROWS)
    formula = spec.derivative(
        lossgrad.tensor(logits), targets, *params, lossgrad.tensor(upstream[:, None])
    ).numpy()
    step = 1e-6
    difference = np.empty_like(logits)
    for row, column in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[row, column] += step
        down[row, column] -= step
        change = (
            _row_kernel(spec, up, targets, params)[0] - _row_kernel(spec, down, targets, params)[0]
        )
        difference[row, column] = upstream @ change / (2 * step)
    np.testing.assert_allclose(difference, formula, rtol=1e-5, atol=1e-6)
