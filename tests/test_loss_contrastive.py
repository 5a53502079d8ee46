"""Contrastive and metric-learning losses against their reference libraries (pml 2.9, optax,
MONAI, Keras) on the same embeddings and labels: values and gradients in float32 and float64,
several settings; then gradgradcheck, stability, edge cases and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

import lossgrad
import lossgrad.nn.functional as F
from lossgrad.autograd import gradgradcheck
from parity import assert_close

TOL = {np.float32: (2e-4, 2e-5), np.float64: (1e-9, 1e-11)}
LABELS = np.array([0, 1, 0, 2, 1, 0, 3, 2, 1, 4, 2, 0])  # classes 3 and 4 are singletons


def _batch(rows: int = 12, width: int = 5, dtype: type = np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = LABELS if rows == 12 else rng.integers(0, max(2, rows // 4), rows)
    return rng.standard_normal((rows, width)).astype(dtype), labels


def compare(lg_fn, ref_fn, embeddings, labels, dtype=np.float64, tol=None):
    """Value and gradient of ``lg_fn(x, labels)`` against ``ref_fn`` (torch tensors)."""
    rtol, atol = tol or TOL[dtype]
    original = embeddings.copy()
    lg_x = lossgrad.tensor(embeddings, requires_grad=True)
    th_x = torch.tensor(embeddings, requires_grad=True)
    lg_value = lg_fn(lg_x, lossgrad.tensor(labels))
    th_value = ref_fn(th_x, torch.tensor(labels))
    assert str(lg_value.dtype) == str(th_value.dtype)
    assert_close(lg_value, th_value, rtol, atol, "value")
    lg_value.backward()
    th_value.backward()
    assert_close(lg_x.grad, th_x.grad, rtol * 10, atol * 10, "gradient")
    np.testing.assert_array_equal(embeddings, original)
    return float(lg_value)


def _second_order(fn, embeddings, labels):
    x = lossgrad.tensor(embeddings, requires_grad=True)
    assert gradgradcheck(lambda e: fn(e, lossgrad.tensor(labels)), (x,), atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------- InfoNCE family


@pytest.mark.parametrize(
    ("dtype", "temperature"),
    # float32 at t = 0.01: pml's log(ratio + tiny) saturates at 87.3 (test_far_beyond_pml_clamp)
    [
        (np.float32, 0.07),
        (np.float32, 0.5),
        (np.float64, 0.07),
        (np.float64, 0.5),
        (np.float64, 0.01),
    ],
)
@pytest.mark.parametrize("rows", (12, 40))
def test_nt_xent_equals_pml(dtype, temperature, rows):
    x, labels = _batch(rows, dtype=dtype)
    compare(
        lambda e, y: F.nt_xent_loss(e, y, temperature),
        pml_losses.NTXentLoss(temperature),
        x,
        labels,
        dtype,
    )


@pytest.mark.parametrize("temperature", (0.07, 0.3))
def test_nt_xent_equals_optax(temperature):
    import jax
    import jax.numpy as jnp
    import optax

    x, labels = _batch(dtype=np.float32)
    value, grad = jax.value_and_grad(lambda e: optax.ntxent(e, jnp.asarray(labels), temperature))(
        jnp.asarray(x)
    )
    lg_x = lossgrad.tensor(x, requires_grad=True)
    loss = F.nt_xent_loss(lg_x, lossgrad.tensor(labels), temperature)
    loss.backward()
    assert_close(loss, np.asarray(value), 2e-5, 2e-6, "value")
    assert_close(lg_x.grad, np.asarray(grad), 2e-4, 2e-5, "gradient")


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("temperature", (0.5, 0.1))
def test_nt_xent_equals_monai_contrastive(dtype, temperature):
    from monai.losses import ContrastiveLoss

    x, _ = _batch(8, dtype=dtype, seed=3)
    views = np.arange(4)
    labels = np.concatenate([views, views])
    # MONAI takes the two views as (input, target): rows i and i + B are the positive pair
    # MONAI holds the temperature as a float32 tensor
    compare(
        lambda e, y: F.nt_xent_loss(e, y, float(np.float32(temperature))),
        lambda e, y: ContrastiveLoss(temperature=temperature)(e[:4], e[4:]),
        x,
        labels,
        dtype,
    )


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("temperature", (0.1, 0.05, 0.5))
@pytest.mark.parametrize("rows", (12, 40))
def test_supcon_equals_pml(dtype, temperature, rows):
    x, labels = _batch(rows, dtype=dtype, seed=1)
    compare(
        lambda e, y: F.supcon_loss(e, y, temperature),
        pml_losses.SupConLoss(temperature),
        x,
        labels,
        dtype,
    )


def _torch_info_nce(query, positive, negatives, temperature, reduction, mode):
    """The info-nce-pytorch package's definition, written with torch."""
    norm = torch.nn.functional.normalize
    query, positive = norm(query, dim=-1), norm(positive, dim=-1)
    if negatives is None:
        logits = query @ positive.T
        target = torch.arange(len(query))
    else:
        negatives = norm(negatives, dim=-1)
        positive_logit = torch.sum(query * positive, dim=1, keepdim=True)
        if mode == "unpaired":
            negative_logits = query @ negatives.T
        else:
            negative_logits = (query.unsqueeze(1) @ negatives.transpose(-2, -1)).squeeze(1)
        logits = torch.cat([positive_logit, negative_logits], dim=1)
        target = torch.zeros(len(logits), dtype=torch.long)
    return torch.nn.functional.cross_entropy(logits / temperature, target, reduction=reduction)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("mode", ("in_batch", "unpaired", "paired"))
@pytest.mark.parametrize("reduction", ("mean", "sum", "none"))
def test_info_nce_equals_torch_reference(dtype, mode, reduction):
    rng = np.random.default_rng(4)
    query, positive = rng.standard_normal((2, 6, 5)).astype(dtype)
    negatives = None
    if mode == "unpaired":
        negatives = rng.standard_normal((9, 5)).astype(dtype)
    elif mode == "paired":
        negatives = rng.standard_normal((6, 3, 5)).astype(dtype)
    negative_mode = "paired" if mode == "paired" else "unpaired"
    tensors = {}
    for lib in (lossgrad, torch):
        args = [lib.tensor(a, requires_grad=True) for a in (query, positive)]
        neg = None if negatives is None else lib.tensor(negatives, requires_grad=True)
        fn = F.info_nce_loss if lib is lossgrad else _torch_info_nce
        if lib is lossgrad:
            out = fn(*args, neg, 0.07, reduction, negative_mode)
        else:
            out = fn(*args, neg, 0.07, reduction, negative_mode)
        out.sum().backward()
        tensors[lib] = (out, *args, neg)
    rtol, atol = TOL[dtype]
    assert_close(tensors[lossgrad][0], tensors[torch][0], rtol, atol, "value")
    for lg_t, th_t in zip(tensors[lossgrad][1:], tensors[torch][1:]):
        if th_t is not None:
            assert_close(lg_t.grad, th_t.grad, rtol * 10, atol * 10, "gradient")


def _torch_clip(image, text, scale):
    norm = torch.nn.functional.normalize
    logits = scale * norm(image, dim=1) @ norm(text, dim=1).T
    target = torch.arange(len(image))
    ce = torch.nn.functional.cross_entropy
    return (ce(logits, target) + ce(logits.T, target)) / 2


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("scale", (1.0, 1 / 0.07, 100.0))
def test_clip_loss_equals_torch_reference(dtype, scale):
    rng = np.random.default_rng(5)
    image, text = rng.standard_normal((2, 7, 4)).astype(dtype)
    lg = [lossgrad.tensor(a, requires_grad=True) for a in (image, text)]
    th = [torch.tensor(a, requires_grad=True) for a in (image, text)]
    lg_scale = lossgrad.tensor(scale, dtype=lg[0].dtype, requires_grad=True)
    th_scale = torch.tensor(scale, dtype=th[0].dtype, requires_grad=True)
    lg_loss, th_loss = F.clip_loss(*lg, lg_scale), _torch_clip(*th, th_scale)
    lg_loss.backward()
    th_loss.backward()
    rtol, atol = TOL[dtype]
    assert_close(lg_loss, th_loss, rtol, atol, "value")
    for a, b in zip([*lg, lg_scale], [*th, th_scale]):
        assert_close(a.grad, b.grad, rtol * 10, atol * 10, "gradient")


# ------------------------------------------------------------------- pair and triplet losses


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("pos_margin", "neg_margin"), ((0.0, 1.0), (0.2, 0.8), (0.5, 1.5)))
@pytest.mark.parametrize("rows", (12, 40))
def test_contrastive_equals_pml(dtype, pos_margin, neg_margin, rows):
    x, labels = _batch(rows, dtype=dtype, seed=2)
    compare(
        lambda e, y: F.contrastive_loss(e, y, pos_margin, neg_margin),
        pml_losses.ContrastiveLoss(pos_margin, neg_margin),
        x,
        labels,
        dtype,
    )


def _pml_triplet(margin, mining, swap, smooth):
    loss = pml_losses.TripletMarginLoss(margin, swap=swap, smooth_loss=smooth)
    if mining == "batch_all":
        return loss
    miner = (
        pml_miners.BatchHardMiner()
        if mining == "batch_hard"
        else pml_miners.TripletMarginMiner(margin, type_of_triplets="semihard")
    )
    return lambda e, y: loss(e, y, miner(e, y))


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("mining", ("batch_all", "batch_hard", "semihard"))
@pytest.mark.parametrize(
    ("margin", "swap", "smooth"), ((0.05, False, False), (0.3, True, False), (0.2, False, True))
)
def test_triplet_mining_equals_pml(dtype, mining, margin, swap, smooth):
    x, labels = _batch(dtype=dtype, seed=6)
    value = compare(
        lambda e, y: F.triplet_mining_loss(e, y, margin, mining, swap, smooth),
        _pml_triplet(margin, mining, swap, smooth),
        x,
        labels,
        dtype,
    )
    assert value > 0  # the batch has active triplets: the comparison is not 0 == 0


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("alpha", "beta", "base"), ((2, 50, 0.5), (1, 10, 0.2), (5, 40, 0.0)))
def test_multi_similarity_equals_pml(dtype, alpha, beta, base):
    x, labels = _batch(dtype=dtype, seed=7)
    compare(
        lambda e, y: F.multi_similarity_loss(e, y, alpha, beta, base),
        pml_losses.MultiSimilarityLoss(alpha, beta, base),
        x,
        labels,
        dtype,
    )


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("neg_margin", "pos_margin"), ((1.0, 0.0), (1.5, 0.3)))
@pytest.mark.parametrize("generalized", (False, True))
def test_lifted_structure_equals_pml(dtype, neg_margin, pos_margin, generalized):
    x, labels = _batch(dtype=dtype, seed=8)
    ref = (
        pml_losses.GeneralizedLiftedStructureLoss if generalized else pml_losses.LiftedStructureLoss
    )(neg_margin, pos_margin)
    compare(
        lambda e, y: F.lifted_structure_loss(e, y, neg_margin, pos_margin, generalized),
        ref,
        x,
        labels,
        dtype,
    )


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("seed", (9, 10))
def test_npairs_equals_pml(dtype, seed):
    x, labels = _batch(dtype=dtype, seed=seed)
    compare(F.npairs_loss, pml_losses.NPairsLoss(), x * 0.5, labels, dtype)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("margin", "beta"), ((0.2, 1.2), (0.1, 1.0), (0.3, 1.4)))
def test_margin_loss_equals_pml(dtype, margin, beta):
    x, labels = _batch(dtype=dtype, seed=11)
    # pml holds beta as a float32 tensor
    compare(
        lambda e, y: F.margin_loss(e, y, margin, float(np.float32(beta))),
        pml_losses.MarginLoss(margin, beta=beta),
        x,
        labels,
        dtype,
    )


def test_margin_loss_learnable_per_class_beta_equals_pml():
    x, labels = _batch(seed=12)
    ref = pml_losses.MarginLoss(0.2, beta=1.2, learn_beta=True, num_classes=5).double()
    lg_beta = lossgrad.tensor(np.full(5, np.float32(1.2), np.float64), requires_grad=True)
    compare(lambda e, y: F.margin_loss(e, y, 0.2, lg_beta), ref, x, labels)
    assert_close(lg_beta.grad, ref.beta.grad, 1e-9, 1e-11, "beta gradient")


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("m", "gamma"), ((0.4, 80.0), (0.25, 256.0), (0.25, 16.0)))
def test_circle_equals_pml(dtype, m, gamma):
    x, labels = _batch(dtype=dtype, seed=13)
    compare(
        lambda e, y: F.circle_loss(e, y, m, gamma),
        pml_losses.CircleLoss(m, gamma),
        x,
        labels,
        dtype,
    )


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


@pytest.mark.parametrize(("m", "gamma"), ((0.4, 80.0), (0.25, 16.0)))
def test_circle_keras_convention_equals_keras(m, gamma):
    keras = _keras()
    x, labels = _batch(dtype=np.float32, seed=14)
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # Keras expects unit-norm embeddings
    lg_x = lossgrad.tensor(x, requires_grad=True)
    loss = F.circle_loss(lg_x, lossgrad.tensor(labels), m, gamma, convention="keras")
    loss.backward()
    circle = keras.losses.Circle(gamma=gamma, margin=m)
    if keras.backend.backend() == "torch":
        th_x = torch.tensor(x, requires_grad=True)
        value = circle(torch.tensor(labels), th_x)
        value.backward()
        grad = th_x.grad.numpy()
        value = value.detach().numpy()
    else:  # another test module chose JAX first
        import jax

        value, grad = jax.value_and_grad(lambda e: circle(labels, e))(x)
    assert_close(loss, np.asarray(value), 1e-5, 1e-4, "value")
    assert_close(lg_x.grad, np.asarray(grad), 1e-3, 1e-5, "gradient")
    # the pml convention has the same value here but detached weights: another gradient
    lg_pml = lossgrad.tensor(x, requires_grad=True)
    pml_value = F.circle_loss(lg_pml, lossgrad.tensor(labels), m, gamma)
    pml_value.backward()
    assert_close(pml_value, loss, 1e-5, 1e-4, "pml value on unit rows")
    assert not np.allclose(lg_pml.grad.numpy(), lg_x.grad.numpy(), rtol=1e-3)


# -------------------------------------------------------------------- redundancy reduction


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("lambd", (5e-3, 0.1))
def test_barlow_twins_equals_monai(dtype, lambd):
    from monai.losses import BarlowTwinsLoss

    rng = np.random.default_rng(15)
    x = rng.standard_normal((10, 6)).astype(dtype)
    x[5:] = x[:5] + 0.3 * x[5:]
    # MONAI holds lambd as a float32 tensor
    compare(
        lambda e, y: F.barlow_twins_loss(e[:5], e[5:], float(np.float32(lambd))),
        lambda e, y: BarlowTwinsLoss(lambd)(e[:5], e[5:]),
        x,
        np.zeros(10),
        dtype,
    )


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("weights", ((25.0, 25.0, 1.0), (1.0, 5.0, 0.5)))
def test_vicreg_equals_pml(dtype, weights):
    rng = np.random.default_rng(16)
    x = (rng.standard_normal((16, 6)) * 0.6).astype(dtype)
    compare(
        lambda e, y: F.vicreg_loss(e[:8], e[8:], *weights),
        lambda e, y: pml_losses.VICRegLoss(*weights)(e[:8], ref_emb=e[8:]),
        x,
        np.zeros(16),
        dtype,
    )


# ------------------------------------------------------------------------- second derivatives

SECOND_ORDER = {
    "nt_xent": lambda e, y: F.nt_xent_loss(e, y, 0.5),
    "supcon": lambda e, y: F.supcon_loss(e, y, 0.5),
    "info_nce": lambda e, y: F.info_nce_loss(e[:3], e[3:6], e[6:], temperature=0.5),
    "clip": lambda e, y: F.clip_loss(e[:4], e[4:8], 2.0),
    "contrastive": lambda e, y: F.contrastive_loss(e, y, 0.1, 1.2),
    "triplet_all": lambda e, y: F.triplet_mining_loss(e, y, 0.5),
    "triplet_hard": lambda e, y: F.triplet_mining_loss(e, y, 0.5, "batch_hard"),
    "triplet_smooth": lambda e, y: F.triplet_mining_loss(e, y, 0.2, smooth_loss=True),
    "multi_similarity": lambda e, y: F.multi_similarity_loss(e, y, 2, 10),
    "lifted": lambda e, y: F.lifted_structure_loss(e, y),
    "lifted_generalized": lambda e, y: F.lifted_structure_loss(e, y, generalized=True),
    "npairs": F.npairs_loss,
    "margin": lambda e, y: F.margin_loss(e, y, 0.3, 1.1),
    "circle_keras": lambda e, y: F.circle_loss(e, y, 0.4, 4.0, "keras"),
    "barlow": lambda e, y: F.barlow_twins_loss(e[:4], e[4:], 0.1),
    "vicreg": lambda e, y: F.vicreg_loss(e[:4], e[4:], 1.0, 1.0, 1.0),
}


def test_circle_pml_second_derivatives_equal_pml():
    """pml detaches the circle weights, so its gradient is not the derivative of its value and
    gradgradcheck cannot hold; the second derivatives equal pml's own through torch."""
    x, labels = _batch(8, seed=20)
    direction = np.random.default_rng(21).standard_normal(x.shape)
    results = []
    for lib, fn in (
        (lossgrad, lambda e, y: F.circle_loss(e, y, 0.4, 4.0)),
        (torch, pml_losses.CircleLoss(0.4, 4.0)),
    ):
        e = lib.tensor(x, requires_grad=True)
        (grad,) = lib.autograd.grad(fn(e, lib.tensor(labels)), (e,), create_graph=True)
        (second,) = lib.autograd.grad((grad * lib.tensor(direction)).sum(), (e,))
        results.append(second)
    assert_close(results[0], results[1], 1e-8, 1e-10, "second derivative")


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_gradgradcheck(name):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((8, 3)) * 0.7
    labels = np.array([0, 1, 0, 1, 2, 0, 2, 3])
    _second_order(SECOND_ORDER[name], x, labels)


# ------------------------------------------------------------- large batches, blocks of rows


def _torch_nt_xent(x, y, temperature):
    """NT-Xent written out in torch (pml's pair-by-pair matrix does not fit at N = 600)."""
    unit = torch.nn.functional.normalize(x, dim=1)
    logits = unit @ unit.T / temperature
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    negative_lse = torch.logsumexp(logits.masked_fill(same, float("-inf")), 1, keepdim=True)
    return torch.nn.functional.softplus(negative_lse - logits, threshold=1000)[positive].mean()


def _torch_lifted(x, y, neg_margin, pos_margin):
    """pml's LiftedStructureLoss written out in torch for a batch where every row has a
    negative (pml's own takes about 20 GB at N = 600)."""
    distances = torch.cdist(
        torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(x, dim=1)
    )
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    row_lse = torch.logsumexp((neg_margin - distances).masked_fill(same, float("-inf")), 1)
    pair_lse = torch.logaddexp(row_lse[:, None], row_lse[None, :])
    losses = torch.relu(pair_lse + distances - pos_margin) ** 2 / 2
    return losses[positive].mean()


LARGE = {
    "nt_xent": (lambda e, y: F.nt_xent_loss(e, y, 0.1), lambda e, y: _torch_nt_xent(e, y, 0.1)),
    "supcon": (lambda e, y: F.supcon_loss(e, y, 0.1), pml_losses.SupConLoss(0.1)),
    "multi_similarity": (F.multi_similarity_loss, pml_losses.MultiSimilarityLoss()),
    "contrastive": (
        lambda e, y: F.contrastive_loss(e, y, 0.2, 1.2),
        pml_losses.ContrastiveLoss(0.2, 1.2),
    ),
    "triplet_hard": (
        lambda e, y: F.triplet_mining_loss(e, y, mining="batch_hard"),
        _pml_triplet(0.05, "batch_hard", False, False),
    ),
    "triplet_hard_swap_smooth": (
        lambda e, y: F.triplet_mining_loss(e, y, 0.3, "batch_hard", True, True),
        _pml_triplet(0.3, "batch_hard", True, True),
    ),
    "circle": (lambda e, y: F.circle_loss(e, y, 0.4, 16.0), pml_losses.CircleLoss(0.4, 16.0)),
    "lifted": (
        lambda e, y: F.lifted_structure_loss(e, y, 1.2, 0.1),
        lambda e, y: _torch_lifted(e, y, 1.2, 0.1),
    ),
    "lifted_generalized": (
        lambda e, y: F.lifted_structure_loss(e, y, 1.2, 0.1, generalized=True),
        pml_losses.GeneralizedLiftedStructureLoss(1.2, 0.1),
    ),
    # beta exact in float32 (pml keeps it as a float32 Parameter)
    "margin": (lambda e, y: F.margin_loss(e, y, 0.2, 1.25), pml_losses.MarginLoss(0.2, beta=1.25)),
}


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_batch_equals_reference(name, dtype):
    """N = 600 rows: the (N, N) work is split into blocks of rows over the thread pool, the
    distances take torch's matrix-product path, and one class is a singleton."""
    rng = np.random.default_rng(30)
    x = rng.standard_normal((600, 16)).astype(dtype)
    labels = rng.integers(0, 75, 600)
    labels[0] = 75
    tol = (1e-4, 1e-6) if dtype == np.float32 else None
    compare(*LARGE[name], x, labels, dtype, tol)


@pytest.mark.parametrize("labels", ([3, 1, 3, 3, 0, 1, 7], [5, 5, 5], [0, 1, 2], [2, -1, 2, 9, -1]))
def test_pair_labels_are_the_positive_mask_pairs(labels):
    from lossgrad.nn.functional._pairwise import PairLabels

    labels = np.array(labels)
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(labels.size, dtype=bool)
    pairs = PairLabels(labels)
    anchors, positives = np.nonzero(positive)
    np.testing.assert_array_equal(pairs.anchors, anchors)
    np.testing.assert_array_equal(pairs.positives, positives)
    np.testing.assert_array_equal(pairs.class_size, same.sum(1))
    np.testing.assert_array_equal(pairs.has_negative, (~same).any(1))


# ----------------------------------------------------------------- stability and edge cases

# margins off the distance of a zero row to a unit row (exactly 1, where the count of non-zero
# terms would depend on the last bit of rounding); t = 0.03 keeps NT-Xent under pml's 87.3 cap
LABELLED = {
    "nt_xent": lambda e, y: F.nt_xent_loss(e, y, 0.03),
    "supcon": lambda e, y: F.supcon_loss(e, y, 0.01),
    "contrastive": lambda e, y: F.contrastive_loss(e, y, 0.0, 0.9),
    "triplet": F.triplet_mining_loss,
    "triplet_hard": lambda e, y: F.triplet_mining_loss(e, y, mining="batch_hard"),
    "multi_similarity": F.multi_similarity_loss,
    "lifted": F.lifted_structure_loss,
    "lifted_generalized": lambda e, y: F.lifted_structure_loss(e, y, generalized=True),
    "npairs": F.npairs_loss,
    "margin": lambda e, y: F.margin_loss(e, y, 0.2, 1.1),
    "circle": lambda e, y: F.circle_loss(e, y, gamma=256.0),
}
PML = {
    "nt_xent": pml_losses.NTXentLoss(0.03),
    "supcon": pml_losses.SupConLoss(0.01),
    "contrastive": pml_losses.ContrastiveLoss(0.0, 0.9),
    "triplet": pml_losses.TripletMarginLoss(),
    "triplet_hard": _pml_triplet(0.05, "batch_hard", False, False),
    "multi_similarity": pml_losses.MultiSimilarityLoss(),
    "lifted": pml_losses.LiftedStructureLoss(),
    "lifted_generalized": pml_losses.GeneralizedLiftedStructureLoss(),
    "npairs": pml_losses.NPairsLoss(),
    "margin": pml_losses.MarginLoss(0.2, beta=1.1),
    "circle": pml_losses.CircleLoss(gamma=256.0),
}


@pytest.mark.parametrize("name", sorted(LABELLED))
@pytest.mark.parametrize("case", ("no_positive", "no_negative", "zero_row", "float32_sharp"))
def test_edge_cases_equal_pml_and_finite(name, case):
    x, labels = _batch(8, dtype=np.float64, seed=18)
    dtype = np.float64
    if case == "no_positive":
        labels = np.arange(8)
    elif case == "no_negative":
        labels = np.zeros(8, np.int64)
    elif case == "zero_row":
        labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
        x[1] = 0.0
    else:
        dtype = np.float32
        labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
        x = x.astype(np.float32)
    lg_x = lossgrad.tensor(x, requires_grad=True)
    value = LABELLED[name](lg_x, lossgrad.tensor(labels))
    value.backward()
    assert np.isfinite(value.item()) and np.isfinite(lg_x.grad.numpy()).all()
    tol = (5e-4, 5e-4) if dtype == np.float32 else (1e-7, 1e-9)
    if case == "zero_row" and name == "triplet_hard":
        # the zero row is at distance 1 from every row: the hardest pair is a tie, broken by
        # rounding; the value is the same whichever is picked
        expected = PML[name](torch.tensor(x), torch.tensor(labels))
        assert_close(value, expected, *tol, "value")
        return
    compare(LABELLED[name], PML[name], x, labels, dtype, tol=tol)


@pytest.mark.parametrize("temperature", (0.01, 0.03, 0.07))
@pytest.mark.parametrize("loss", (F.nt_xent_loss, F.supcon_loss))
def test_sharp_temperature_float32_is_finite_and_matches_float64(temperature, loss):
    x, labels = _batch(40, dtype=np.float64, seed=19)
    x[1] = x[0] + 1e-3  # near duplicates: similarities of ~1/t
    results = {}
    for dtype in (np.float32, np.float64):
        lg_x = lossgrad.tensor(x.astype(dtype), requires_grad=True)
        value = loss(lg_x, lossgrad.tensor(labels), temperature)
        value.backward()
        assert np.isfinite(value.item()) and np.isfinite(lg_x.grad.numpy()).all()
        results[dtype] = (value.item(), lg_x.grad.numpy())
    np.testing.assert_allclose(results[np.float32][0], results[np.float64][0], rtol=1e-4)


def test_far_beyond_pml_clamp_stays_exact():
    """pml's log(ratio + tiny) caps a pair at -log(tiny); the softplus form does not."""
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.001]], np.float32)
    labels = np.array([0, 0, 1, 1])
    value = F.nt_xent_loss(lossgrad.tensor(x), lossgrad.tensor(labels), 0.01).item()
    expected = F.nt_xent_loss(
        lossgrad.tensor(x.astype(np.float64)), lossgrad.tensor(labels), 0.01
    ).item()
    assert value > 150 and np.isclose(value, expected, rtol=1e-5)


ERRORS = [
    (lambda e, y: F.nt_xent_loss(e, y[:-1]), "labels"),
    (lambda e, y: F.supcon_loss(e[:1], y[:1]), "embeddings"),
    (lambda e, y: F.nt_xent_loss(e, y, 0.0), "temperature"),
    (lambda e, y: F.supcon_loss(e, y, -0.1), "temperature"),
    (lambda e, y: F.info_nce_loss(e, e[:, :2]), "positive_key"),
    (lambda e, y: F.info_nce_loss(e, e, e[:, :2]), "negative_keys"),
    (lambda e, y: F.info_nce_loss(e, e, temperature=0), "temperature"),
    (lambda e, y: F.clip_loss(e, e[:3]), "text_embeddings"),
    (lambda e, y: F.triplet_mining_loss(e, y, mining="hardest"), "mining"),
    (lambda e, y: F.circle_loss(e, y, convention="tf"), "convention"),
    (lambda e, y: F.contrastive_loss(e[0], y), "embeddings"),
    (lambda e, y: F.barlow_twins_loss(e, e[:, :2]), "embeddings_a"),
    (lambda e, y: F.vicreg_loss(e, e[:3]), "ref_embeddings"),
    (lambda e, y: F.margin_loss(e, y.reshape(2, 4)), "labels"),
]


@pytest.mark.parametrize(("call", "argument"), ERRORS)
def test_bad_input_names_the_argument(call, argument):
    x, _ = _batch(8)
    with pytest.raises(ValueError, match=argument):
        call(lossgrad.tensor(x), lossgrad.tensor(np.array([0, 0, 1, 1, 2, 2, 3, 3])))


# ------------------------------------------------------------- modules with class weights

WEIGHTED = [
    ("ArcFaceLoss", "W", {}),
    ("ArcFaceLoss", "W", {"margin": 10.0, "scale": 16.0}),
    ("CosFaceLoss", "W", {}),
    ("CosFaceLoss", "W", {"margin": 0.2, "scale": 30.0}),
    ("SphereFaceLoss", "W", {}),
    ("SphereFaceLoss", "W", {"margin": 3, "scale": 2.0}),
    ("LargeMarginSoftmaxLoss", "W", {}),
    ("LargeMarginSoftmaxLoss", "W", {"margin": 2}),
    ("SubCenterArcFaceLoss", "W", {}),
    ("SubCenterArcFaceLoss", "W", {"sub_centers": 2, "scale": 16.0}),
    ("NormalizedSoftmaxLoss", "W", {}),
    ("NormalizedSoftmaxLoss", "W", {"temperature": 0.5}),
    ("ProxyAnchorLoss", "proxies", {}),
    ("ProxyAnchorLoss", "proxies", {"margin": 0.2, "alpha": 8.0}),
    ("ProxyNCALoss", "proxies", {}),
    ("ProxyNCALoss", "proxies", {"softmax_scale": 3.0}),
]


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize(("name", "attribute", "kwargs"), WEIGHTED)
def test_weighted_modules_equal_pml(dtype, name, attribute, kwargs):
    num_classes, size = 6, 5
    x, _ = _batch(12, size, dtype, seed=22)
    labels = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])  # class 5 absent from the batch
    ours = getattr(lossgrad.nn, name)(num_classes, size, **kwargs)
    theirs = getattr(pml_losses, name)(num_classes=num_classes, embedding_size=size, **kwargs)
    weights = getattr(theirs, attribute).detach().numpy()
    assert getattr(ours, attribute).shape == weights.shape
    getattr(ours, attribute).data = lossgrad.tensor(weights.astype(dtype))
    getattr(theirs, attribute).data = torch.tensor(weights.astype(dtype))
    compare(ours, theirs, x, labels, dtype)
    rtol, atol = TOL[dtype]
    assert_close(
        getattr(ours, attribute).grad,
        getattr(theirs, attribute).grad,
        rtol * 10,
        atol * 10,
        "weight gradient",
    )
    assert isinstance(getattr(ours, attribute), lossgrad.nn.Parameter)


@pytest.mark.parametrize(
    "name",
    (
        "ArcFaceLoss",
        "CosFaceLoss",
        "SphereFaceLoss",
        "SubCenterArcFaceLoss",
        "NormalizedSoftmaxLoss",
        "ProxyAnchorLoss",
        "ProxyNCALoss",
    ),
)
def test_weighted_losses_gradgradcheck(name):
    x, _ = _batch(6, 3, seed=23)
    module = getattr(lossgrad.nn, name)(4, 3, **({"scale": 4.0} if "Face" in name else {}))
    weight = next(iter(module.parameters()))
    weights = lossgrad.tensor(weight.detach().numpy().astype(np.float64), requires_grad=True)
    labels = lossgrad.tensor(np.array([0, 1, 2, 3, 0, 1]))
    functional = {
        "ArcFaceLoss": lambda e, w: F.arcface_loss(e, labels, w, scale=4.0),
        "CosFaceLoss": lambda e, w: F.cosface_loss(e, labels, w, scale=4.0),
        "SphereFaceLoss": lambda e, w: F.large_margin_softmax_loss(e, labels, w, 3, 1.0, True),
        "SubCenterArcFaceLoss": lambda e, w: F.subcenter_arcface_loss(e, labels, w, scale=4.0),
        "NormalizedSoftmaxLoss": lambda e, w: F.normalized_softmax_loss(e, labels, w, 0.5),
        "ProxyAnchorLoss": lambda e, w: F.proxy_anchor_loss(e, labels, w, alpha=4.0),
        "ProxyNCALoss": lambda e, w: F.proxy_nca_loss(e, labels, w),
    }[name]
    embeddings = lossgrad.tensor(x, requires_grad=True)
    assert gradgradcheck(functional, (embeddings, weights), atol=1e-5, rtol=1e-4)


def test_margin_module_learnable_beta_with_nu_equals_pml():
    x, labels = _batch(seed=24)
    for num_classes in (None, 5):
        ours = lossgrad.nn.MarginLoss(0.2, nu=0.1, learn_beta=True, num_classes=num_classes)
        theirs = pml_losses.MarginLoss(0.2, nu=0.1, learn_beta=True, num_classes=num_classes)
        compare(
            ours,
            lambda e, y, m=theirs: m(e, y).reshape(()),
            x.astype(np.float32),
            labels,
            np.float32,
        )
        assert_close(ours.beta.grad, theirs.beta.grad, 1e-4, 1e-6, "beta gradient")


def test_clip_module_learns_its_scale():
    rng = np.random.default_rng(25)
    image, text = rng.standard_normal((2, 5, 4))
    module = lossgrad.nn.CLIPLoss(init_temperature=0.07)
    assert isinstance(module.logit_scale, lossgrad.nn.Parameter)
    np.testing.assert_allclose(module.logit_scale.item(), np.log(1 / 0.07), rtol=1e-6)
    loss = module(lossgrad.tensor(image), lossgrad.tensor(text))
    scale = torch.tensor(np.log(1 / 0.07), dtype=torch.float32, requires_grad=True)
    expected = _torch_clip(torch.tensor(image), torch.tensor(text), scale.exp().clamp(max=100))
    loss.backward()
    expected.backward()
    assert_close(loss, expected, 1e-6, 1e-6, "value")
    assert_close(module.logit_scale.grad, scale.grad, 1e-5, 1e-6, "scale gradient")


@pytest.mark.parametrize(
    ("name", "args", "functional", "fargs"),
    [
        ("NTXentLoss", (0.2,), F.nt_xent_loss, (0.2,)),
        ("SupConLoss", (0.2,), F.supcon_loss, (0.2,)),
        ("ContrastiveLoss", (0.1, 0.9), F.contrastive_loss, (0.1, 0.9)),
        ("TripletMiningLoss", (0.1, "batch_hard"), F.triplet_mining_loss, (0.1, "batch_hard")),
        ("MultiSimilarityLoss", (1.0, 20.0, 0.3), F.multi_similarity_loss, (1.0, 20.0, 0.3)),
        ("LiftedStructureLoss", (1.2, 0.1), F.lifted_structure_loss, (1.2, 0.1)),
        ("GeneralizedLiftedStructureLoss", (1.2, 0.1), F.lifted_structure_loss, (1.2, 0.1, True)),
        ("NPairsLoss", (), F.npairs_loss, ()),
        ("CircleLoss", (0.3, 32.0), F.circle_loss, (0.3, 32.0)),
    ],
)
def test_pair_modules_call_their_functional(name, args, functional, fargs):
    x, labels = _batch(seed=26)
    module = getattr(lossgrad.nn, name)(*args)
    embeddings, target = lossgrad.tensor(x), lossgrad.tensor(labels)
    assert module(embeddings, target).item() == functional(embeddings, target, *fargs).item()
    if name != "TripletMiningLoss":  # pml's own class of the same name, same arguments
        pml_module = getattr(pml_losses, name)(*args)
        expected = pml_module(torch.tensor(x), torch.tensor(labels)).item()
        np.testing.assert_allclose(module(embeddings, target).item(), expected, rtol=1e-9)


@pytest.mark.parametrize("temperature", (0.01, 0.07))
@pytest.mark.parametrize("loss", (F.nt_xent_loss, F.supcon_loss))
def test_float16_embeddings_stay_finite_and_close_to_float64(temperature, loss):
    rng = np.random.default_rng(27)
    x, labels = rng.standard_normal((16, 8)), rng.integers(0, 4, 16)
    half = lossgrad.tensor(x.astype(np.float16), requires_grad=True)
    value = loss(half, lossgrad.tensor(labels), temperature)
    value.backward()
    assert value.dtype == lossgrad.float16
    assert np.isfinite(half.grad.numpy()).all()
    exact = loss(lossgrad.tensor(x), lossgrad.tensor(labels), temperature).item()
    np.testing.assert_allclose(value.item(), exact, rtol=2e-3)
