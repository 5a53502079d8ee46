"""Ranking losses against rax (values and JAX gradients)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rax

import lossgrad as lg
import lossgrad.nn as lnn
import lossgrad.nn.functional as F
from lossgrad.autograd import gradgradcheck

rng = np.random.default_rng(11)

LOSSES = [
    ("softmax", F.softmax_ranking_loss, rax.softmax_loss, True),
    ("listmle", F.listmle_loss, rax.listmle_loss, False),
    ("logistic", F.pairwise_logistic_loss, rax.pairwise_logistic_loss, True),
    ("hinge", F.pairwise_hinge_loss, rax.pairwise_hinge_loss, True),
]
REDUCE = {"mean": jnp.mean, "sum": jnp.sum, "none": None}


def _batch(dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scores = rng.normal(size=(5, 7)).astype(dtype)
    labels = rng.integers(0, 4, (5, 7)).astype(dtype)
    valid = rng.random((5, 7)) > 0.25
    valid[4] = False  # a list without a valid item
    weights = rng.random((5, 7)).astype(dtype)
    return scores, labels, valid, weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_equals_rax(name, mine, ref, takes_weights, masked, reduction, dtype):
    scores, labels, valid, weights = _batch(dtype)
    ours_kw, rax_kw = {}, {}
    if masked:
        ours_kw["where"], rax_kw["where"] = lg.tensor(valid), valid
    if takes_weights:
        ours_kw["weights"], rax_kw["weights"] = lg.tensor(weights), weights
    upstream = rng.normal(size=5).astype(dtype)

    def reference(s):
        arrays = {key: jnp.asarray(value) for key, value in rax_kw.items()}  # inside x64 mode
        out = ref(s, jnp.asarray(labels), reduce_fn=REDUCE[reduction], **arrays)
        if reduction == "none" and name in ("logistic", "hinge"):
            out = out.reshape(5, 7, 7).sum(-1)  # fold the pairs into one value per item
        return (
            out * jnp.asarray(upstream)[:, None]
            if out.ndim == 2
            else out * jnp.asarray(upstream)
            if out.ndim == 1
            else out
        ).sum()

    with jax.enable_x64(dtype == np.float64):
        expected = float(reference(jnp.asarray(scores)))
        expected_grad = np.asarray(jax.grad(reference)(jnp.asarray(scores)))
    ours = lg.tensor(scores, requires_grad=True)
    out = mine(ours, lg.tensor(labels), reduction=reduction, **ours_kw)
    if reduction == "none" and name in ("logistic", "hinge"):
        assert tuple(out.shape) == (5, 7, 7)
        out = out.sum(-1)
    total = (
        (out * lg.tensor(upstream)[:, None]).sum()
        if out.dim() == 2
        else ((out * lg.tensor(upstream)).sum() if out.dim() == 1 else out)
    )
    total.backward()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total.item(), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), expected_grad, rtol=tol, atol=tol)


WEIGHTED = [case for case in LOSSES if case[3]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", [(5, 1), (7,)], ids=["per-list", "per-item-shared"])
@pytest.mark.parametrize("name,mine,ref,takes_weights", WEIGHTED, ids=[c[0] for c in WEIGHTED])
def test_broadcast_weights_equal_rax(
    name, mine, ref, takes_weights, weight_shape, reduction, dtype
):
    """Per-list weights ``(lists, 1)`` and one per-item vector ``(n,)`` for every list, masked,
    against rax given the same arrays (it broadcasts them): values and JAX gradients."""
    scores, labels, valid, _ = _batch(dtype)
    weights = rng.random(weight_shape).astype(dtype) + 0.5
    upstream = rng.normal(size=(5, 7, 7) if reduction == "none" else ()).astype(dtype)
    if reduction == "none" and name == "softmax":
        upstream = upstream[:, 0, 0]

    def reference(s):
        out = ref(
            s,
            jnp.asarray(labels),
            where=jnp.asarray(valid),
            weights=jnp.asarray(weights),
            reduce_fn=REDUCE[reduction],
        )
        return jnp.sum(out * jnp.asarray(upstream).reshape(out.shape))

    with jax.enable_x64(dtype == np.float64):
        expected, expected_grad = jax.value_and_grad(reference)(jnp.asarray(scores))
    ours = lg.tensor(scores, requires_grad=True)
    out = mine(
        ours,
        lg.tensor(labels),
        where=lg.tensor(valid),
        weights=lg.tensor(weights),
        reduction=reduction,
    )
    total = (out * lg.tensor(upstream)).sum()
    total.backward()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total.item(), float(expected), rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), np.asarray(expected_grad), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,mine,ref,takes_weights", WEIGHTED, ids=[c[0] for c in WEIGHTED])
def test_weights_that_do_not_broadcast_are_refused(name, mine, ref, takes_weights):
    """ValueError (JAX's class for shapes that do not broadcast) naming ``weights`` and its
    shape: a ``(lists,)`` vector with lists != n, and a shape that would enlarge the loss."""
    scores, labels, _, _ = _batch(np.float64)
    for shape in [(5,), (2, 5, 7), (5, 3)]:
        with pytest.raises(
            ValueError, match=rf"weights must broadcast.*got {re.escape(str(shape))}"
        ):
            mine(lg.tensor(scores), lg.tensor(labels), weights=lg.tensor(np.ones(shape)))
    with pytest.raises(TypeError, match="weights must be a Tensor"):
        mine(lg.tensor(scores), lg.tensor(labels), weights=np.ones((5, 1)))


def test_listmle_ties_keep_order_and_invalid_items_go_last():
    """Labels (1, 1, 0): the tie keeps the given order, so the likelihood is of the order 0, 1, 2:
    -[s0 - log(e^s0 + e^s1 + e^s2)] - [s1 - log(e^s1 + e^s2)] - 0 (worked by hand)."""
    s = np.array([0.5, -0.3, 1.2])
    expected = -(s[0] - np.log(np.exp(s).sum())) - (s[1] - np.log(np.exp(s[1:]).sum()))
    out = F.listmle_loss(lg.tensor(s[None]), lg.tensor([[1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(out.item(), expected, rtol=1e-14)
    masked = F.listmle_loss(
        lg.tensor(np.r_[s, 9.0][None]),
        lg.tensor([[1.0, 1.0, 0.0, 5.0]]),
        where=lg.tensor([[True, True, True, False]]),
    )
    np.testing.assert_allclose(masked.item(), expected, rtol=1e-14)


def test_no_valid_pair_gives_zero_not_nan():
    scores = lg.tensor([[0.3, 0.1, 2.0]], requires_grad=True)
    out = F.pairwise_logistic_loss(scores, lg.tensor([[1.0, 1.0, 1.0]]))
    out.backward()
    assert out.item() == 0.0 and np.all(scores.grad.numpy() == 0)
    empty = F.softmax_ranking_loss(
        scores, lg.tensor([[1.0, 0.0, 0.0]]), where=lg.tensor([[False, False, False]])
    )
    assert empty.item() == 0.0


@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_second_derivatives(name, mine, ref, takes_weights):
    scores = lg.tensor(rng.normal(size=(2, 4)), requires_grad=True)
    labels = lg.tensor(np.array([[2.0, 0.0, 1.0, 3.0], [1.0, 1.0, 0.0, 2.0]]))
    mask = lg.tensor(np.array([[True, True, False, True], [True, True, True, True]]))
    assert gradgradcheck(lambda s: mine(s, labels, where=mask), (scores,))


def test_modules_and_bad_input():
    scores, labels, valid, _ = _batch(np.float32)
    s, y, m = lg.tensor(scores), lg.tensor(labels), lg.tensor(valid)
    assert lnn.ListMLELoss()(s, y, m).item() == F.listmle_loss(s, y, where=m).item()
    assert (
        lnn.PairwiseHingeLoss("sum")(s, y).item()
        == F.pairwise_hinge_loss(s, y, reduction="sum").item()
    )
    with pytest.raises(ValueError, match="labels must have the scores' shape"):
        F.softmax_ranking_loss(s, y[:, :3])
    with pytest.raises(ValueError, match="where must have the scores' shape"):
        F.pairwise_logistic_loss(s, y, where=m[:2])
    keep = scores.copy()
    F.listmle_loss(s, y, where=m)
    np.testing.assert_array_equal(scores, keep)


#: (scale, offset) of the drawn scores
SPREADS = {"narrow": (1.0, 0.0), "overflow": (300.0, 2000.0), "underflow": (300.0, -2000.0)}


@pytest.mark.parametrize("spread", list(SPREADS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_masked_scores_equal_rax(name, mine, ref, takes_weights, dtype, spread):
    """Masked (and weighted) lists: ``narrow``, the scores as drawn and a valid item in every
    list (softmax keeps its unshifted exponentials: a list without a valid item makes it
    shift); ``overflow`` / ``underflow``, scores hundreds of units apart far above or below 0,
    whose unshifted exponentials overflow or underflow: the fused kernels' shift-free fast
    paths do not apply (softmax shifts by each list's maximum, ListMLE sums its tails in log
    space)."""
    scores, labels, valid, weights = _batch(dtype)
    scale, offset = SPREADS[spread]
    scores = scores * scale + offset
    if spread == "narrow":
        valid[4, 0] = True
    kw = {"where": valid} | ({"weights": weights} if takes_weights else {})
    with jax.enable_x64(dtype == np.float64):
        arrays = {key: jnp.asarray(value) for key, value in kw.items()}
        expected, expected_grad = jax.value_and_grad(
            lambda s: ref(s, jnp.asarray(labels), **arrays)
        )(jnp.asarray(scores))
    ours = lg.tensor(scores, requires_grad=True)
    out = mine(ours, lg.tensor(labels), **{key: lg.tensor(value) for key, value in kw.items()})
    out.backward()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert np.isfinite(out.item())
    np.testing.assert_allclose(out.item(), float(expected), rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), np.asarray(expected_grad), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_forward_without_gradient_and_retained_graph(name, mine, ref, takes_weights):
    """The fused kernels without a gradient to write give the same value; with retain_graph
    the kept gradient is handed out twice (the second backward accumulates it)."""
    scores, labels, valid, _ = _batch(np.float64)
    with lg.no_grad():
        plain = mine(lg.tensor(scores), lg.tensor(labels), where=lg.tensor(valid))
    ours = lg.tensor(scores, requires_grad=True)
    out = mine(ours, lg.tensor(labels), where=lg.tensor(valid))
    assert out.item() == plain.item()
    out.backward(retain_graph=True)
    first = ours.grad.numpy().copy()
    out.backward()
    np.testing.assert_allclose(ours.grad.numpy(), 2 * first, rtol=1e-15)


@pytest.mark.parametrize("shape", [(2, 3, 6), (4, 300)], ids=["batched", "row-blocks"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_fused_kernel_equals_composite(name, mine, ref, takes_weights, masked, shape):
    """The reduced losses run a NumPy kernel; ``'none'`` runs the ops formula: the two agree
    (value and gradient), over leading batch axes and, at n = 300, over the pair kernel's
    blocks of rows split across the thread pool."""
    scores = rng.normal(size=shape)
    labels = lg.tensor(rng.integers(0, 3, shape).astype(np.float64))
    kw = {"where": lg.tensor(rng.random(shape) > 0.3)} if masked else {}
    if takes_weights:
        kw["weights"] = lg.tensor(rng.random(shape))
    fused, composite = (lg.tensor(scores, requires_grad=True) for _ in range(2))
    value = mine(fused, labels, reduction="sum", **kw)
    value.backward()
    expected = mine(composite, labels, reduction="none", **kw).sum()
    expected.backward()
    np.testing.assert_allclose(value.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(fused.grad.numpy(), composite.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
@pytest.mark.parametrize("label_dtype", [np.int64, np.float64], ids=["int-labels", "f64-labels"])
@pytest.mark.parametrize("name,mine,ref,takes_weights", LOSSES, ids=[c[0] for c in LOSSES])
def test_unmasked_unweighted_lists_equal_rax(name, mine, ref, takes_weights, label_dtype, wide):
    """Without a mask or weights the kernels read the labels as they are (no copy): float32
    scores with integer or float64 labels, against rax on the same labels as float32. One list
    is all ties (no pair); ``wide``: another has scores hundreds apart (softmax shifts by each
    list's maximum, the logistic pairs overflow ``exp`` and take the stable formula)."""
    scores = rng.normal(size=(6, 9)).astype(np.float32)
    if wide:
        scores[1] *= 300
    labels = rng.integers(0, 4, (6, 9))
    labels[2] = 1
    with jax.enable_x64(False):
        expected, expected_grad = jax.value_and_grad(
            lambda s: ref(s, jnp.asarray(labels, jnp.float32))
        )(jnp.asarray(scores))
    ours = lg.tensor(scores, requires_grad=True)
    out = mine(ours, lg.tensor(labels.astype(label_dtype)))
    out.backward()
    assert out.dtype == lg.float32 and ours.grad.dtype == lg.float32
    np.testing.assert_allclose(out.item(), float(expected), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(ours.grad.numpy(), np.asarray(expected_grad), rtol=2e-5, atol=2e-5)
