"""sparsemax / entmax mappings and losses against the entmax package, optax and JAX; poly-1
against timm and optax."""

from __future__ import annotations

import entmax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import lossgrad as lg
import lossgrad.nn as lnn
import lossgrad.nn.functional as F
from lossgrad.autograd import gradcheck, gradgradcheck
from oracles import load_submodule

rng = np.random.default_rng(7)

MAPPINGS = [
    ("sparsemax", F.sparsemax, entmax.sparsemax),
    ("entmax15", F.entmax15, entmax.entmax15),
    (
        "bisect_1.3",
        lambda x, **k: F.entmax_bisect(x, 1.3, **k),
        lambda x, **k: entmax.entmax_bisect(x, 1.3, **k),
    ),
    (
        "bisect_2.5",
        lambda x, **k: F.entmax_bisect(x, 2.5, **k),
        lambda x, **k: entmax.entmax_bisect(x, 2.5, **k),
    ),
]
LOSSES = [
    ("sparsemax", F.sparsemax_loss, entmax.sparsemax_loss, lambda: entmax.SparsemaxLoss()),
    ("entmax15", F.entmax15_loss, entmax.entmax15_loss, lambda: entmax.Entmax15Loss()),
    (
        "bisect_1.7",
        lambda x, y, **k: F.entmax_bisect_loss(x, y, alpha=1.7, **k),
        lambda x, y: entmax.entmax_bisect_loss(x, y, 1.7),
        lambda: entmax.EntmaxBisectLoss(alpha=1.7),
    ),
]


def _scores(shape: tuple[int, ...], dtype: type, scale: float = 2.0) -> np.ndarray:
    return (rng.normal(size=shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,mine,ref", MAPPINGS, ids=[m[0] for m in MAPPINGS])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_mapping_values_and_vjp(name, mine, ref, dim, dtype):
    x = _scores((4, 5, 6), dtype)
    upstream = rng.normal(size=x.shape).astype(dtype)
    ours = lg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out_ours, out_theirs = mine(ours, dim=dim), ref(theirs, dim=dim)
    (out_ours * lg.tensor(upstream)).sum().backward()
    (out_theirs * torch.tensor(upstream)).sum().backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=tol * 10)
    assert out_ours.dtype == (lg.float32 if dtype == np.float32 else lg.float64)
    np.testing.assert_allclose(out_ours.detach().numpy().sum(dim), 1.0, atol=tol * 10)


def test_sparsemax_is_sparse_and_exact():
    # Martins & Astudillo's closed form: z = (2, 1.5, -1): support {0, 1}, τ = 1.25
    out = F.sparsemax(lg.tensor([2.0, 1.5, -1.0], dtype=lg.float64))
    np.testing.assert_array_equal(out.numpy(), [0.75, 0.25, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,mine,ref,module", LOSSES, ids=[m[0] for m in LOSSES])
def test_losses_match_entmax(name, mine, ref, module, dtype):
    x = _scores((6, 5), dtype)
    y = rng.integers(0, 5, 6)
    upstream = rng.normal(size=6).astype(dtype)
    ours = lg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out_ours = mine(ours, lg.tensor(y), reduction="none")
    out_theirs = ref(theirs, torch.tensor(y))
    (out_ours * lg.tensor(upstream)).sum().backward()
    (out_theirs * torch.tensor(upstream)).sum().backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=tol)
    # the module reductions: entmax's 'elementwise_mean' is our 'mean'
    np.testing.assert_allclose(
        mine(lg.tensor(x), lg.tensor(y)).item(),
        module()(torch.tensor(x), torch.tensor(y)).item(),
        rtol=tol,
    )


def test_ignore_index_matches_entmax_module():
    x = _scores((6, 4), np.float64)
    y = np.array([0, 2, 1, 2, 3, 2])
    ours = F.sparsemax_loss(lg.tensor(x), lg.tensor(y), ignore_index=2)
    theirs = entmax.SparsemaxLoss(ignore_index=2)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    assert F.sparsemax_loss(lg.tensor(x), lg.tensor(y), ignore_index=2, reduction="none")[1] == 0


@pytest.mark.parametrize("name,mine,ref,module", LOSSES, ids=[m[0] for m in LOSSES])
def test_mean_over_no_kept_row_is_zero(name, mine, ref, module):
    """Every target ignored, or no rows at all: the mean over no row is 0 (0/0 would be NaN)
    and so is its gradient (documented; the ranking losses' safe mean)."""
    all_ignored = (lg.tensor(_scores((3, 4), np.float64)), lg.tensor(np.full(3, -100)))
    empty = (lg.zeros(0, 4, dtype=lg.float64), lg.tensor(np.zeros(0, np.int64)))
    for scores, target in (all_ignored, empty):
        scores.requires_grad_(True)
        out = mine(scores, target)
        out.backward()
        assert out.item() == 0.0
        np.testing.assert_array_equal(scores.grad.numpy(), np.zeros(scores.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sparsemax_loss_equals_optax(reduction, dtype):
    """Values and JAX gradients of optax's ``multiclass_sparsemax_loss`` (per row; reduced
    with jnp.mean / jnp.sum), with an upstream gradient for ``'none'``."""
    x = _scores((5, 7), dtype)
    y = rng.integers(0, 7, 5)
    upstream = rng.normal(size=5).astype(dtype)
    reduce = {"none": lambda rows: jnp.sum(rows * upstream), "mean": jnp.mean, "sum": jnp.sum}

    def reference(scores):
        return reduce[reduction](optax.losses.multiclass_sparsemax_loss(scores, jnp.asarray(y)))

    with jax.enable_x64(dtype == np.float64):
        expected, expected_grad = jax.value_and_grad(reference)(jnp.asarray(x))
    scores = lg.tensor(x, requires_grad=True)
    out = F.sparsemax_loss(scores, lg.tensor(y), reduction=reduction)
    total = (out * lg.tensor(upstream)).sum() if reduction == "none" else out
    total.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total.item(), float(expected), rtol=tol, atol=tol)
    np.testing.assert_allclose(scores.grad.numpy(), np.asarray(expected_grad), atol=tol)


def test_sparsemax_loss_hessian_equals_jax():
    """The second derivative (the sparsemax Jacobian), against JAX's autodiff of optax's loss;
    the entmax package's own Function has no second derivative."""
    x = _scores((1, 6), np.float64)
    y = np.array([2])
    with jax.enable_x64(True):
        hessian = jax.hessian(
            lambda z: optax.losses.multiclass_sparsemax_loss(z, jnp.asarray(y)).sum()
        )(jnp.asarray(x))
    scores = lg.tensor(x, requires_grad=True)
    (grad,) = lg.autograd.grad(
        F.sparsemax_loss(scores, lg.tensor(y), reduction="sum"), scores, create_graph=True
    )
    rows = [lg.autograd.grad(grad[0, j], scores, retain_graph=True)[0].numpy()[0] for j in range(6)]
    np.testing.assert_allclose(np.array(rows), np.asarray(hessian)[0, :, 0, :], atol=1e-12)


# -- JAX references for second derivatives: JAX's autodiff of the mappings written afresh -------


def _jax_sparsemax(scores):
    """optax's Euclidean projection onto the simplex, row by row."""
    return jax.vmap(optax.projections.projection_simplex)(scores)


def _jax_entmax15(scores):
    """1.5-entmax by its sort-based closed form (Peters et al. 2019, Alg. 2): on the support of
    the k largest halved scores, τ = mean - sqrt((1 - k·var) / k)."""
    half = scores / 2
    half = half - jax.lax.stop_gradient(half.max(-1, keepdims=True))
    descending = -jnp.sort(-half, -1)
    ranks = jnp.arange(1, scores.shape[-1] + 1)
    mean = jnp.cumsum(descending, -1) / ranks
    variance = jnp.cumsum(descending**2, -1) / ranks - mean**2
    spread = (1 - ranks * variance) / ranks
    # sqrt has no finite derivative at 0: the thresholds of the sizes not taken could reach it
    thresholds = mean - jnp.where(spread > 0, jnp.sqrt(jnp.where(spread > 0, spread, 1.0)), 0.0)
    support = jnp.sum(thresholds <= descending, -1, keepdims=True)
    threshold = jnp.take_along_axis(thresholds, support - 1, -1)
    return jnp.maximum(half - threshold, 0) ** 2


def _jax_entmax(alpha, values):
    """α-entmax ``p = max((α-1) z - τ, 0)^(1/(α-1))`` for scores near ``values``: τ found by a
    200-step NumPy bisection on the given ``values`` (a constant to JAX), then three Newton steps
    on ``Σ p = 1`` over that support, written in JAX; autodiff through Newton's iteration
    started at its root gives τ's first and (from the second step on) second derivatives
    exactly, by the implicit function theorem."""
    exponent = 1 / (alpha - 1)
    scaled = (alpha - 1) * values
    low = scaled.max(-1, keepdims=True) - 1
    high = scaled.max(-1, keepdims=True) - (1 / values.shape[-1]) ** (alpha - 1)
    for _ in range(200):
        middle = (low + high) / 2
        mass = (np.maximum(scaled - middle, 0) ** exponent).sum(-1, keepdims=True) - 1
        low, high = np.where(mass >= 0, middle, low), np.where(mass >= 0, high, middle)
    support = scaled - low > 0

    def mapping(scores):
        threshold = jnp.asarray(low)
        for _ in range(3):
            gap = jnp.where(support, (alpha - 1) * scores - threshold, 1.0)
            mass = jnp.sum(jnp.where(support, gap**exponent, 0.0), -1, keepdims=True) - 1
            slope = -exponent * jnp.sum(jnp.where(support, gap ** (exponent - 1), 0.0), -1)
            threshold = threshold - mass / slope[..., None]
        gap = jnp.where(support, (alpha - 1) * scores - threshold, 1.0)
        return jnp.where(support, gap**exponent, 0.0)

    return mapping


def _jax_fenchel_young(mapping, alpha, target):
    """The Fenchel–Young loss ``H_α(p) + <p, z> - z_y`` summed over rows, ``p = mapping(z)``."""

    def loss(scores):
        probabilities = mapping(scores)
        positive = probabilities > 0  # p^α has no finite second derivative at p = 0
        powers = jnp.where(positive, jnp.where(positive, probabilities, 1.0) ** alpha, 0.0)
        entropy = (1 - jnp.sum(powers, -1)) / (alpha * (alpha - 1))
        picked = jnp.take_along_axis(scores, target[:, None], -1)[:, 0]
        return jnp.sum(entropy + jnp.sum(probabilities * scores, -1) - picked)

    return loss


def _hessian_vector_products(function, scores, direction):
    """lossgrad's double backward of a scalar ``function``: ``H v`` (0 where the gradient does
    not depend on the scores: sparsemax is piecewise linear, as torch the gradient then has no
    graph to differentiate)."""
    leaf = lg.tensor(scores, requires_grad=True)
    (gradient,) = lg.autograd.grad(function(leaf), leaf, create_graph=True)
    if not gradient.requires_grad:
        return np.zeros_like(scores)
    (product,) = lg.autograd.grad((gradient * lg.tensor(direction)).sum(), leaf)
    return product.numpy()


def _jax_hessian_vector_products(function, scores, direction):
    with jax.enable_x64(True):
        _, product = jax.jvp(jax.grad(function), (jnp.asarray(scores),), (jnp.asarray(direction),))
        return np.asarray(product)


#: (name, lossgrad mapping, α, JAX mapping of scores near the given values)
SECOND_ORDER_MAPPINGS = [
    ("sparsemax", F.sparsemax, 2.0, lambda values: _jax_sparsemax),
    ("entmax15", F.entmax15, 1.5, lambda values: _jax_entmax15),
    ("bisect_1.3", lambda x: F.entmax_bisect(x, 1.3), 1.3, lambda v: _jax_entmax(1.3, v)),
    ("bisect_2.5", lambda x: F.entmax_bisect(x, 2.5), 2.5, lambda v: _jax_entmax(2.5, v)),
]


@pytest.mark.parametrize(
    "name,mine,alpha,reference", SECOND_ORDER_MAPPINGS, ids=[m[0] for m in SECOND_ORDER_MAPPINGS]
)
def test_mapping_second_derivatives_equal_jax(name, mine, alpha, reference):
    """``d²/dz² Σ w ⊙ mapping(z)`` applied to a direction, against JAX's autodiff of the
    mapping (the entmax package's Functions have no correct second derivative to compare)."""
    draw = np.random.default_rng(17)
    scores = draw.normal(size=(4, 6)) * 2
    weights, direction = draw.normal(size=(2, 4, 6))
    with jax.enable_x64(True):
        jax_mapping = reference(scores)
        assert np.asarray(jax_mapping(jnp.asarray(scores))).min() == 0  # some classes are cut
        expected = _jax_hessian_vector_products(
            lambda z: jnp.sum(jax_mapping(z) * weights), scores, direction
        )
    ours = _hessian_vector_products(
        lambda z: (mine(z) * lg.tensor(weights)).sum(), scores, direction
    )
    np.testing.assert_allclose(ours, expected, atol=1e-10)


#: (name, lossgrad loss, α, JAX mapping of scores near the given values)
SECOND_ORDER_LOSSES = [
    ("entmax15", F.entmax15_loss, 1.5, lambda values: _jax_entmax15),
    (
        "bisect_1.7",
        lambda x, y, **k: F.entmax_bisect_loss(x, y, alpha=1.7, **k),
        1.7,
        lambda values: _jax_entmax(1.7, values),
    ),
    (
        "bisect_3",
        lambda x, y, **k: F.entmax_bisect_loss(x, y, alpha=3.0, **k),
        3.0,
        lambda values: _jax_entmax(3.0, values),
    ),
]


@pytest.mark.parametrize(
    "name,mine,alpha,reference", SECOND_ORDER_LOSSES, ids=[m[0] for m in SECOND_ORDER_LOSSES]
)
def test_loss_second_derivatives_equal_jax(name, mine, alpha, reference):
    """Hessian-vector products of the summed loss (the mapping's Jacobian), against JAX's
    autodiff of the Fenchel–Young loss written with a JAX mapping."""
    draw = np.random.default_rng(18)
    scores = draw.normal(size=(4, 6)) * 2
    target = draw.integers(0, 6, 4)
    direction = draw.normal(size=(4, 6))
    with jax.enable_x64(True):
        loss = _jax_fenchel_young(reference(scores), alpha, jnp.asarray(target))
        expected = _jax_hessian_vector_products(loss, scores, direction)
    ours = _hessian_vector_products(
        lambda z: mine(z, lg.tensor(target), reduction="sum"), scores, direction
    )
    np.testing.assert_allclose(ours, expected, atol=1e-10)


@pytest.mark.parametrize("name,mine,ref,module", LOSSES, ids=[m[0] for m in LOSSES])
def test_losses_second_derivatives(name, mine, ref, module):
    x = lg.tensor(_scores((3, 4), np.float64, scale=0.6), requires_grad=True)
    y = lg.tensor(np.array([0, 3, 1]))
    assert gradcheck(lambda s: mine(s, y, reduction="sum"), (x,))
    assert gradgradcheck(lambda s: mine(s, y, reduction="sum"), (x,))


@pytest.mark.parametrize("name,mine,ref", MAPPINGS, ids=[m[0] for m in MAPPINGS])
def test_mappings_second_derivatives(name, mine, ref):
    x = lg.tensor(_scores((2, 5), np.float64, scale=0.5), requires_grad=True)
    weights = lg.tensor(rng.normal(size=(2, 5)))
    assert gradgradcheck(lambda s: (mine(s) * weights).sum(), (x,))


def test_loss_is_zero_with_margin_and_gradient_is_p_minus_onehot():
    scores = lg.tensor([[0.0, 3.0, 0.5]], requires_grad=True)
    loss = F.sparsemax_loss(scores, lg.tensor([1]))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(scores.grad.numpy(), [[0.0, 0.0, 0.0]])


def test_module_forms():
    x, y = lg.tensor(_scores((4, 3), np.float32)), lg.tensor(np.array([0, 1, 2, 1]))
    assert lnn.SparsemaxLoss()(x, y).item() == F.sparsemax_loss(x, y).item()
    assert (
        lnn.Entmax15Loss(reduction="sum")(x, y).item()
        == F.entmax15_loss(x, y, reduction="sum").item()
    )
    assert (
        lnn.EntmaxBisectLoss(alpha=1.2)(x, y).item() == F.entmax_bisect_loss(x, y, alpha=1.2).item()
    )
    assert (
        lnn.Poly1CrossEntropyLoss(epsilon=1.0)(x, y).item()
        == F.poly1_cross_entropy(x, y, epsilon=1.0).item()
    )


def test_bad_inputs_and_no_mutation():
    x = _scores((3, 4), np.float32)
    keep = x.copy()
    with pytest.raises(ValueError, match="target must have shape"):
        F.sparsemax_loss(lg.tensor(x), lg.tensor(np.array([0, 1])))
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.entmax15_loss(lg.tensor(x), lg.tensor(np.array([0, 1, 4])))
    with pytest.raises(ValueError, match="alpha must be > 1"):
        F.entmax_bisect(lg.tensor(x), alpha=1.0)
    with pytest.raises(TypeError, match="input must be a Tensor"):
        F.sparsemax([1.0, 2.0])
    with pytest.raises(ValueError, match="input must be 2-D"):
        F.sparsemax_loss(lg.tensor(x[0]), lg.tensor(np.array([0])))
    F.sparsemax_loss(lg.tensor(x), lg.tensor(np.array([0, 1, 2])))
    np.testing.assert_array_equal(x, keep)


def test_argument_errors_name_the_argument():
    """n_iter that is no positive integer (entmax itself fails with an UnboundLocalError at 0)
    and a non-numeric Poly-1 epsilon or label_smoothing: TypeError / ValueError naming them."""
    x, y = lg.tensor(_scores((3, 4), np.float64)), lg.tensor(np.array([0, 1, 2]))
    for call in (
        lambda n_iter: F.entmax_bisect(x, n_iter=n_iter),
        lambda n_iter: F.entmax_bisect_loss(x, y, n_iter=n_iter),
    ):
        for n_iter in (0, -3):
            with pytest.raises(ValueError, match=f"n_iter must be at least 1, got {n_iter}"):
                call(n_iter)
        with pytest.raises(TypeError, match="argument 'n_iter' must be int, not float"):
            call(2.5)
    with pytest.raises(TypeError, match="argument 'epsilon' .* must be float, not str"):
        F.poly1_cross_entropy(x, y, epsilon="2")
    with pytest.raises(TypeError, match="argument 'label_smoothing' .* must be float, not str"):
        F.poly1_cross_entropy(x, y, label_smoothing="0.1")


@pytest.mark.parametrize("dtype,size", [(np.float32, 1e8), (np.float64, 1e30)])
@pytest.mark.parametrize("alpha", [1.5, 2.0, 3.0])
def test_entmax_bisect_at_extreme_scores(alpha, dtype, size):
    """Scores ±1e8 (float32) or ±1e30 (float64), where the entmax package's bisection returns
    NaN: by the mappings' shift invariance, p is one-hot on a lone maximum and uniform over
    tied maxima; the losses are ``z_max - z_y`` and, for a tie, the entropy ``H_α`` of the
    uniform p: ``(1 - 2·2^-α) / (α (α - 1))``; the gradient is ``p - onehot(y)``."""
    scores = lg.tensor(np.array([[size, -size, 0], [size, size, -size]], dtype), requires_grad=True)
    probabilities = F.entmax_bisect(scores, alpha)
    np.testing.assert_array_equal(probabilities.detach().numpy(), [[1, 0, 0], [0.5, 0.5, 0]])
    loss = F.entmax_bisect_loss(scores, lg.tensor([1, 0]), alpha=alpha, reduction="none")
    loss.sum().backward()
    tie_entropy = (1 - 2 * 0.5**alpha) / (alpha * (alpha - 1))
    np.testing.assert_allclose(loss.detach().numpy(), [2 * size, tie_entropy], rtol=1e-6)
    np.testing.assert_allclose(scores.grad.numpy(), [[1, -1, 0], [-0.5, 0.5, 0]], atol=1e-6)


def test_large_scores_stay_finite():
    x = lg.tensor([[1e30, -1e30, 0.0]], dtype=lg.float64, requires_grad=True)
    for loss in (F.sparsemax_loss, F.entmax15_loss):
        out = loss(x, lg.tensor([0]))
        out.backward()
        assert np.isfinite(out.item()) and np.isfinite(x.grad.numpy()).all()
        x.grad = None
    # tied maxima at 1e30: the loss is the entropy of the uniform p over them (0.25 for
    # sparsemax, (1 - 2^-0.5) / 0.75 for entmax-1.5), not <p, z> - z_y rounded to 0
    tied = lg.tensor([[1e30, 1e30, -1e30]], dtype=lg.float64)
    for loss, entropy in ((F.sparsemax_loss, 0.25), (F.entmax15_loss, (1 - 0.5**0.5) / 0.75)):
        np.testing.assert_allclose(loss(tied, lg.tensor([1])).item(), entropy, rtol=1e-12)


# -- poly-1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("epsilon,smoothing", [(2.0, 0.0), (1.0, 0.1), (-1.0, 0.0)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_poly1_equals_timm(epsilon, smoothing, reduction, dtype):
    timm_loss = load_submodule("timm.loss")
    x = _scores((8, 5), dtype)
    y = rng.integers(0, 5, 8)
    ours = lg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    criterion = timm_loss.PolyCrossEntropy(
        epsilon=epsilon, smoothing=smoothing, reduction=reduction
    )
    out_theirs = criterion(theirs, torch.tensor(y))
    out_ours = F.poly1_cross_entropy(
        ours, lg.tensor(y), epsilon=epsilon, label_smoothing=smoothing, reduction=reduction
    )
    out_ours.sum().backward()
    out_theirs.sum().backward()
    tol = 1e-5  # timm computes in float32 whatever the input's dtype
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=tol)


def test_poly1_probability_targets_equal_optax():
    x = _scores((6, 4), np.float32)
    target = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    theirs = optax.losses.poly_loss_cross_entropy(jnp.asarray(x), jnp.asarray(target), epsilon=2.0)
    ours = F.poly1_cross_entropy(lg.tensor(x), lg.tensor(target), reduction="none")
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5)


def test_poly1_epsilon_zero_is_cross_entropy_and_twice_differentiable():
    x = _scores((5, 4), np.float64)
    y = lg.tensor(rng.integers(0, 4, 5))
    np.testing.assert_allclose(
        F.poly1_cross_entropy(lg.tensor(x), y, epsilon=0.0).item(),
        torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(y.numpy())).item(),
        rtol=1e-14,
    )
    scores = lg.tensor(x, requires_grad=True)
    assert gradgradcheck(lambda s: F.poly1_cross_entropy(s, y), (scores,))


def test_poly1_bad_target():
    with pytest.raises(ValueError, match="target must be class indices"):
        F.poly1_cross_entropy(lg.tensor(_scores((3, 4), np.float32)), lg.tensor([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.poly1_cross_entropy(
            lg.tensor(_scores((3, 4), np.float32)), lg.tensor([0, 1, 2]), label_smoothing=1.5
        )


@pytest.mark.parametrize("spread", [1.0, 400.0], ids=["unshifted", "shifted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_poly1_fused_kernel_equals_composite(spread, smoothing):
    """Reduced with class indices, Poly-1 runs a NumPy kernel (without the row-max shift when
    the scores are small enough); ``'none'`` runs the ops formula: the two agree."""
    x = np.random.default_rng(5).normal(size=(6, 9)) * spread
    y = lg.tensor(np.random.default_rng(6).integers(0, 9, 6))
    fused, composite = (lg.tensor(x, requires_grad=True) for _ in range(2))
    value = F.poly1_cross_entropy(fused, y, epsilon=1.5, label_smoothing=smoothing)
    value.backward()
    expected = F.poly1_cross_entropy(
        composite, y, epsilon=1.5, label_smoothing=smoothing, reduction="none"
    ).mean()
    expected.backward()
    np.testing.assert_allclose(value.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(fused.grad.numpy(), composite.grad.numpy(), atol=1e-12)
