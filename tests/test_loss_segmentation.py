"""Segmentation losses (lossgrad extensions) against MONAI, segmentation_models_pytorch, kornia
and Keras on the same inputs: values, first gradients (from the libraries' own autograd), second
gradients by gradgradcheck, empty masks, absent classes, float16 images, bad inputs."""

import os

import monai.losses as monai_losses
import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradgradcheck
from oracles import load_submodule

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402  (after the backend is chosen)
import kornia.losses  # noqa: E402

F = lossgrad.nn.functional
smp = load_submodule("segmentation_models_pytorch.losses")
rng = np.random.default_rng(15)

DTYPES = [(np.float32, 2e-6, 1e-6), (np.float64, 1e-12, 1e-12)]


def logits(shape, dtype=np.float64):
    return rng.normal(size=shape).astype(dtype)


def labels(batch, classes, height=5, width=6, absent=None):
    """Index targets (B, 1, H, W); class ``absent`` is removed from sample 1."""
    y = rng.integers(0, classes, size=(batch, 1, height, width))
    if absent is not None:
        y[1][y[1] == absent] = (absent + 1) % classes
    return y


def compare(reference, ours, x, target, dtype, rtol, atol, target_ours=None, seed_grad=True):
    """Value and input gradient of ``reference(torch x, torch target)`` vs ``ours(...)``."""
    x = x.astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = reference(xt, torch.tensor(target))
    xl = lossgrad.tensor(x, requires_grad=True)
    got = ours(xl, lossgrad.tensor(target if target_ours is None else target_ours))
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.normal(size=tuple(want.shape)).astype(dtype)
    (want * torch.tensor(seed)).sum().backward()
    (got * lossgrad.tensor(seed)).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


MONAI_DICE = [
    dict(softmax=True, to_onehot_y=True),
    dict(softmax=True, to_onehot_y=True, include_background=False, batch=True),
    dict(sigmoid=True, to_onehot_y=True, squared_pred=True, reduction="none"),
    dict(softmax=True, to_onehot_y=True, jaccard=True, weight=[1.0, 2.0, 3.0]),
    dict(softmax=True, to_onehot_y=True, soft_label=True, ignore_index=2),
    dict(softmax=True, to_onehot_y=True, ignore_index=-1, reduction="sum"),
    dict(softmax=True, to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-6, weight=0.5),
    dict(sigmoid=True, to_onehot_y=True, batch=True, reduction="none", jaccard=True),
    dict(sigmoid=True, to_onehot_y=True, ignore_index=-1, reduction="none"),
    dict(to_onehot_y=True, ignore_index=-1, smooth_nr=0.1),
    dict(softmax=True, to_onehot_y=True, include_background=False, ignore_index=-1, batch=True),
]


@pytest.mark.parametrize("kw", MONAI_DICE)
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_dice_matches_monai(kw, dtype, rtol, atol):
    y = labels(2, 3, absent=2)
    y[0, 0, 0, :2] = -1  # an ignored label where ignore_index=-1, class 0 elsewhere
    if kw.get("ignore_index") != -1:
        y[y == -1] = 0
    if kw.get("squared_pred") or kw.get("soft_label"):
        # MONAI's norm formulation runs its float32 one-hot target through float32 norms: its
        # float64 results are off by ~1e-8 (ours match the float64 formula: test below)
        rtol, atol = max(rtol, 1e-7), max(atol, 1e-7)
    compare(monai_losses.DiceLoss(**kw), lambda a, b: F.dice_loss(a, b, **kw), logits((2, 3, 5, 6)), y, dtype, rtol, atol)
    module = lossgrad.nn.DiceLoss(**kw)
    compare(monai_losses.DiceLoss(**kw), module, logits((2, 3, 5, 6)), y, dtype, rtol, atol)


def test_squared_pred_matches_the_float64_formula():
    x, y = logits((2, 3, 5, 6)), labels(2, 3)
    p = 1 / (1 + np.exp(-x))
    g = (y == np.arange(3).reshape(1, 3, 1, 1)).astype(np.float64)
    tp, squares = (p * g).sum((2, 3)), (p * p).sum((2, 3)) + (g * g).sum((2, 3))
    want = 1 - (2 * tp + 1e-5) / (squares + 1e-5)
    got = F.dice_loss(lossgrad.tensor(x), lossgrad.tensor(y), sigmoid=True, to_onehot_y=True, squared_pred=True, reduction="none")
    np.testing.assert_allclose(got.numpy()[..., 0, 0], want, rtol=1e-14)


def test_dice_one_hot_and_soft_targets_match_monai():
    soft = rng.random((2, 3, 4, 4))
    soft /= soft.sum(1, keepdims=True)
    for kw in (dict(softmax=True), dict(softmax=True, soft_label=True), dict(sigmoid=True, squared_pred=True, soft_label=True)):
        compare(monai_losses.DiceLoss(**kw), lambda a, b, kw=kw: F.dice_loss(a, b, **kw), logits((2, 3, 4, 4)), soft, np.float64, 1e-12, 1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7),
        dict(sigmoid=True, to_onehot_y=True, batch=True, reduction="none"),
        dict(softmax=True, to_onehot_y=True, include_background=False, smooth_nr=0.1, reduction="sum"),
    ],
)
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_tversky_matches_monai(kw, dtype, rtol, atol):
    compare(monai_losses.TverskyLoss(**kw), lambda a, b: F.tversky_loss(a, b, **kw), logits((2, 3, 5, 6)), labels(2, 3, absent=1), dtype, rtol, atol)
    compare(monai_losses.TverskyLoss(**kw), lossgrad.nn.TverskyLoss(**kw), logits((2, 3, 5, 6)), labels(2, 3), dtype, rtol, atol)


def test_tversky_ignore_index_matches_monai():
    y = labels(2, 3)
    y[0, 0, 0, :3] = -1
    kw = dict(softmax=True, to_onehot_y=True, ignore_index=-1, alpha=0.2, beta=0.8)
    compare(monai_losses.TverskyLoss(**kw), lambda a, b: F.tversky_loss(a, b, **kw), logits((2, 3, 5, 6)), y, np.float64, 1e-12, 1e-12)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_generalized_dice_matches_monai(w_type, batch, dtype, rtol, atol):
    kw = dict(softmax=True, to_onehot_y=True, w_type=w_type, batch=batch)
    y = labels(2, 3, absent=2)  # an absent class takes the largest weight (MONAI's rule)
    compare(monai_losses.GeneralizedDiceLoss(**kw), lambda a, b: F.generalized_dice_loss(a, b, **kw), logits((2, 3, 5, 6)), y, dtype, rtol, atol)
    none = dict(kw, reduction="none", include_background=False)
    compare(monai_losses.GeneralizedDiceLoss(**none), lossgrad.nn.GeneralizedDiceLoss(**none), logits((2, 3, 5, 6)), y, dtype, rtol, atol)


@pytest.mark.parametrize(
    "kw",
    [
        dict(softmax=True, to_onehot_y=True),
        dict(softmax=True, to_onehot_y=True, label_smoothing=0.1, lambda_dice=0.5, reduction="sum"),
        dict(softmax=True, to_onehot_y=True, include_background=False, weight=[1.0, 2.0, 0.5]),
        dict(softmax=True, to_onehot_y=True, batch=True, jaccard=True, lambda_ce=2.0),
    ],
)
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_dice_ce_matches_monai(kw, dtype, rtol, atol):
    ref_kw = dict(kw)
    ours_kw = dict(kw)
    if "weight" in kw:
        ref_kw["weight"] = torch.tensor(kw["weight"], dtype=getattr(torch, np.dtype(dtype).name))
        ours_kw["weight"] = lossgrad.tensor(np.asarray(kw["weight"], dtype))
    compare(monai_losses.DiceCELoss(**ref_kw), lossgrad.nn.DiceCELoss(**ours_kw), logits((2, 3, 5, 6)), labels(2, 3, absent=1), dtype, rtol, atol)


def test_dice_ce_one_channel_is_dice_plus_bce_as_monai():
    y = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.float64)
    kw = dict(sigmoid=True)
    compare(monai_losses.DiceCELoss(**kw), lambda a, b: F.dice_ce_loss(a, b, **kw), logits((2, 1, 4, 4)), y, np.float64, 1e-12, 1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(softmax=True, to_onehot_y=True),
        dict(sigmoid=True, to_onehot_y=True, batch=True, reduction="none"),
        dict(softmax=True, to_onehot_y=True, include_background=False, smooth_nr=0.01, reduction="sum"),
    ],
)
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_mcc_matches_monai(kw, dtype, rtol, atol):
    compare(monai_losses.MCCLoss(**kw), lossgrad.nn.MCCLoss(**kw), logits((2, 3, 5, 6)), labels(2, 3, absent=1), dtype, rtol, atol)


@pytest.mark.parametrize(
    "kw",
    [
        dict(softmax=True, to_onehot_y=True),
        dict(sigmoid=True, to_onehot_y=True, alpha=0.25, gamma=1.5, reduction="sum"),
        dict(softmax=True, to_onehot_y=True, include_background=False, weight=[1.0, 2.0], alpha=[0.2, 0.7], reduction="none"),
        dict(sigmoid=True, to_onehot_y=True, weight=0.5, lambda_focal=2.0, batch=True),
    ],
)
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_dice_focal_matches_monai(kw, dtype, rtol, atol):
    # MONAI computes its focal term in float32 whatever the input: float64 agrees to that rounding
    rtol, atol = max(rtol, 2e-6), max(atol, 1e-6)
    compare(monai_losses.DiceFocalLoss(**kw), lossgrad.nn.DiceFocalLoss(**kw), logits((2, 3, 5, 6)), labels(2, 3, absent=1), dtype, rtol, atol)


# -- smp -------------------------------------------------------------------------------------------

SMP = dict(batch=True, smooth_nr=0.0, smooth_dr=0.0, eps=1e-7, zero_absent=True)


def _smp(smooth=0.0, **kw):
    return dict(SMP, smooth_nr=2 * smooth, smooth_dr=2 * smooth, **kw)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize(
    "smp_kw,ours",
    [
        (dict(), _smp(softmax=True, to_onehot_y=True)),
        (dict(smooth=0.5, log_loss=True), _smp(0.5, softmax=True, to_onehot_y=True, log_loss=True)),
        (dict(ignore_index=2), _smp(softmax=True, to_onehot_y=True, ignore_index=2)),
        (dict(classes=[1, 2, 3]), _smp(softmax=True, to_onehot_y=True, include_background=False)),
    ],
)
def test_dice_matches_smp_multiclass(smp_kw, ours, dtype, rtol, atol):
    y = labels(2, 4, absent=3)[:, 0]  # (B, H, W) indices; class 3 absent from sample 1 only
    y[:, 0] = 0  # and present in sample 0
    y[0, 1, 1] = 3
    x = logits((2, 4, 5, 6))
    compare(smp.DiceLoss("multiclass", **smp_kw), lambda a, b: F.dice_loss(a, b, **ours), x, y, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_dice_matches_smp_binary_and_multilabel(dtype, rtol, atol):
    yb = (rng.random((2, 1, 5, 6)) > 0.5).astype(dtype)
    compare(smp.DiceLoss("binary"), lambda a, b: F.dice_loss(a, b, **_smp(sigmoid=True)), logits((2, 1, 5, 6)), yb, dtype, rtol, atol)
    compare(smp.DiceLoss("binary", smooth=1.0, log_loss=True), lambda a, b: F.dice_loss(a, b, **_smp(1.0, sigmoid=True, log_loss=True)), logits((2, 1, 5, 6)), yb, dtype, rtol, atol)
    ym = (rng.random((2, 3, 5, 6)) > 0.5).astype(dtype)
    ym[:, 1] = 0  # an empty class: smp gives it loss 0, so does zero_absent
    compare(smp.DiceLoss("multilabel"), lambda a, b: F.dice_loss(a, b, **_smp(sigmoid=True)), logits((2, 3, 5, 6)), ym, dtype, rtol, atol)
    compare(smp.JaccardLoss("multilabel"), lambda a, b: F.jaccard_loss(a, b, **_smp(sigmoid=True)), logits((2, 3, 5, 6)), ym, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_jaccard_and_tversky_match_smp(dtype, rtol, atol):
    y = labels(2, 3)[:, 0]
    compare(smp.JaccardLoss("multiclass"), lossgrad.nn.JaccardLoss(**_smp(softmax=True, to_onehot_y=True)), logits((2, 3, 5, 6)), y, dtype, rtol, atol)
    compare(smp.JaccardLoss("multiclass", log_loss=True, smooth=0.1), lambda a, b: F.jaccard_loss(a, b, **_smp(0.1, softmax=True, to_onehot_y=True, log_loss=True)), logits((2, 3, 5, 6)), y, dtype, rtol, atol)
    yb = (rng.random((2, 1, 5, 6)) > 0.5).astype(dtype)
    for alpha, beta, gamma in ((0.3, 0.7, 1.0), (0.7, 0.3, 2.0), (0.5, 0.5, 0.75)):
        ours = dict(SMP, sigmoid=True, alpha=alpha, beta=beta, gamma=gamma)
        compare(smp.TverskyLoss("binary", alpha=alpha, beta=beta, gamma=gamma), lambda a, b, ours=ours: F.tversky_loss(a, b, **ours), logits((2, 1, 5, 6)), yb, dtype, rtol, atol)
    ours = dict(SMP, softmax=True, to_onehot_y=True, alpha=0.2, beta=0.8)
    compare(smp.TverskyLoss("multiclass", alpha=0.2, beta=0.8), lambda a, b: F.tversky_loss(a, b, **ours), logits((2, 3, 5, 6)), y, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_mcc_matches_smp(dtype, rtol, atol):
    # smp takes probabilities and adds eps to each of the four counts
    probabilities = rng.random((2, 1, 5, 6))
    yb = (rng.random((2, 1, 5, 6)) > 0.5).astype(dtype)
    ours = dict(batch=True, smooth_nr=0.0, smooth_dr=0.0, eps=1e-5)
    compare(smp.MCCLoss(), lambda a, b: F.mcc_loss(a, b, **ours), probabilities, yb, dtype, rtol, atol)


# -- kornia, Keras -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_dice_matches_kornia_micro(dtype, rtol, atol):
    kw = dict(softmax=True, to_onehot_y=True, pool_classes=True, smooth_nr=0.0, smooth_dr=1e-8)
    y = labels(2, 4, absent=1)[:, 0]
    compare(kornia.losses.dice_loss, lambda a, b: F.dice_loss(a, b, **kw), logits((2, 4, 5, 6)), y, dtype, rtol, atol)
    compare(lambda a, b: kornia.losses.dice_loss(a, b, eps=0.1), lambda a, b: F.dice_loss(a, b, **dict(kw, smooth_dr=0.1)), logits((2, 4, 5, 6)), y, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_tversky_matches_kornia_when_all_classes_present(dtype, rtol, atol):
    y = labels(2, 3)[:, 0]
    y[:, 0, :3] = [0, 1, 2]
    kw = dict(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7, smooth_nr=0.0, smooth_dr=1e-8)
    compare(lambda a, b: kornia.losses.tversky_loss(a, b, alpha=0.3, beta=0.7), lambda a, b: F.tversky_loss(a, b, **kw), logits((2, 3, 5, 6)), y, dtype, rtol, atol)
    # a class absent from a sample: kornia averages over the present ones only
    absent = labels(2, 3, absent=1)[:, 0]
    present = dict(kw, class_average="present")
    compare(
        lambda a, b: kornia.losses.tversky_loss(a, b, alpha=0.3, beta=0.7),
        lambda a, b: F.tversky_loss(a, b, **present),
        logits((2, 3, 5, 6)),
        absent,
        dtype,
        rtol,
        atol,
    )


def keras_value(loss, y_true, y_pred):
    return float(np.asarray(keras.ops.convert_to_numpy(loss(y_true, y_pred))))


def keras_gradient(loss, y_true, y_pred):
    """d loss / d y_pred on Keras's JAX backend (float32, as Keras computes)."""
    import jax

    return np.asarray(jax.grad(lambda pred: loss(y_true, pred))(y_pred.astype(np.float32)))


def test_dice_and_tversky_match_keras():
    """Keras (channels last, axis=None: one Dice over everything); its Tversky weighs false
    negatives by its alpha, so ours takes alpha and beta swapped. Values and gradients."""
    p = rng.random((2, 3, 5, 6))
    y = (rng.random((2, 3, 5, 6)) > 0.5).astype(np.float64)
    channels_last = (np.moveaxis(y, 1, -1), np.moveaxis(p, 1, -1))
    pooled = dict(batch=True, pool_classes=True, smooth_nr=0.0, smooth_dr=1e-7)
    for keras_loss, ours in (
        (keras.losses.Dice(), lambda a, b: F.dice_loss(a, b, **pooled)),
        (
            keras.losses.Tversky(alpha=0.3, beta=0.7),
            lambda a, b: F.tversky_loss(a, b, alpha=0.7, beta=0.3, **pooled),
        ),
    ):
        prediction = lossgrad.tensor(p, requires_grad=True)
        got = ours(prediction, lossgrad.tensor(y))
        got.backward()
        np.testing.assert_allclose(float(got.detach()), keras_value(keras_loss, *channels_last), rtol=1e-6)
        want = np.moveaxis(keras_gradient(keras_loss, *channels_last), -1, 1)
        np.testing.assert_allclose(prediction.grad.numpy(), want, rtol=1e-4, atol=1e-7)


# -- Lovasz ----------------------------------------------------------------------------------------


def binary_labels(shape, dtype=np.float64):
    y = (rng.random(shape) > 0.6).astype(dtype)
    y[-1] = 0  # an image without foreground
    return y


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_lovasz_hinge_matches_kornia(dtype, rtol, atol):
    y = binary_labels((3, 5, 6)).astype(np.int64)
    compare(kornia.losses.lovasz_hinge_loss, F.lovasz_hinge_loss, logits((3, 1, 5, 6)), y, dtype, rtol, atol)
    compare(kornia.losses.lovasz_hinge_loss, lossgrad.nn.LovaszHingeLoss(), logits((3, 1, 5, 6)), y, dtype, rtol, atol)


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_lovasz_hinge_matches_smp(per_image, mode):
    """smp's Lovasz weights are float32 whatever the input (float64 raises in its dot): float32."""
    channels = 1 if mode == "binary" else 3
    y = binary_labels((3, channels, 5, 6), np.float32)
    ours = lambda a, b: F.lovasz_hinge_loss(a, b, per_image=per_image)  # noqa: E731
    compare(smp.LovaszLoss(mode, per_image=per_image), ours, logits((3, channels, 5, 6)), y, np.float32, 2e-6, 1e-6)
    y[0, 0, 0, :3] = 255
    y[1, 0, 2] = 255
    ours = lambda a, b: F.lovasz_hinge_loss(a, b, per_image=per_image, ignore_index=255)  # noqa: E731
    compare(smp.LovaszLoss(mode, per_image=per_image, ignore_index=255), ours, logits((3, channels, 5, 6)), y, np.float32, 2e-6, 1e-6)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_lovasz_softmax_matches_kornia(dtype, rtol, atol):
    y = labels(3, 4, absent=3)[:, 0]
    kw = dict(classes="all", per_image=True)
    compare(kornia.losses.lovasz_softmax_loss, lambda a, b: F.lovasz_softmax_loss(a, b, **kw), logits((3, 4, 5, 6)), y, dtype, rtol, atol)
    weight = np.array([1.0, 2.0, 0.5, 3.0], dtype)
    compare(
        lambda a, b: kornia.losses.lovasz_softmax_loss(a, b, weight=torch.tensor(weight)),
        lossgrad.nn.LovaszSoftmaxLoss(weight=lossgrad.tensor(weight), **kw),
        logits((3, 4, 5, 6)), y, dtype, rtol, atol,
    )


@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_softmax_matches_smp(per_image):
    """smp's 'present' classes; float32 (smp's weights are float32 only)."""
    y = labels(3, 4, absent=3)[:, 0]
    ours = lambda a, b: F.lovasz_softmax_loss(a, b, per_image=per_image)  # noqa: E731
    compare(smp.LovaszLoss("multiclass", per_image=per_image), ours, logits((3, 4, 5, 6)), y, np.float32, 2e-6, 1e-6)
    y[0, 0, :3] = -1
    y[1, 2] = -1
    ours = lambda a, b: F.lovasz_softmax_loss(a, b, per_image=per_image, ignore_index=-1)  # noqa: E731
    compare(smp.LovaszLoss("multiclass", per_image=per_image, ignore_index=-1), ours, logits((3, 4, 5, 6)), y, np.float32, 2e-6, 1e-6)
    compare(smp.LovaszLoss("multiclass", per_image=per_image), lossgrad.nn.LovaszSoftmaxLoss(classes=[0, 1, 2, 3], per_image=per_image), logits((3, 4, 5, 6)), labels(3, 4)[:, 0], np.float32, 2e-6, 1e-6)


def test_lovasz_fully_ignored_image_contributes_zero():
    """smp's per-image Lovasz-softmax crashes on an image whose pixels are all ignored (its
    empty case returns a (0, C) tensor); the mathematically meant value is a zero loss for that
    image, averaged with the others: the mean of the other images' losses times (B-1)/B."""
    x, y = logits((3, 4, 5, 6)), labels(3, 4)[:, 0]
    y[2] = -1
    full = F.lovasz_softmax_loss(lossgrad.tensor(x), lossgrad.tensor(y), per_image=True, ignore_index=-1)
    first_two = F.lovasz_softmax_loss(lossgrad.tensor(x[:2]), lossgrad.tensor(y[:2]), per_image=True, ignore_index=-1)
    np.testing.assert_allclose(float(full), float(first_two) * 2 / 3, rtol=1e-12)
    yb = binary_labels((3, 1, 5, 6))
    yb[2] = 255
    full = F.lovasz_hinge_loss(lossgrad.tensor(x[:, :1]), lossgrad.tensor(yb), ignore_index=255)
    first_two = F.lovasz_hinge_loss(lossgrad.tensor(x[:2, :1]), lossgrad.tensor(yb[:2]), ignore_index=255)
    np.testing.assert_allclose(float(full), float(first_two) * 2 / 3, rtol=1e-12)


def test_lovasz_hinge_matches_an_independent_loop():
    """Berman's algorithm written per image with Python sorting, float64."""
    x, y = logits((3, 1, 4, 5)), binary_labels((3, 4, 5))
    total = 0.0
    for image, label in zip(x.reshape(3, -1), y.reshape(3, -1), strict=True):
        errors = 1 - image * (2 * label - 1)
        order = sorted(range(errors.size), key=lambda i: -errors[i])
        positives = label.sum()
        jaccard_before, inside, outside = 0.0, 0.0, 0.0
        for i in order:
            inside, outside = inside + label[i], outside + (1 - label[i])
            jaccard = 1 - (positives - inside) / (positives + outside)
            total += max(errors[i], 0) * (jaccard - jaccard_before)
            jaccard_before = jaccard
    got = F.lovasz_hinge_loss(lossgrad.tensor(x), lossgrad.tensor(y))
    np.testing.assert_allclose(float(got), total / 3, rtol=1e-12)


# -- edge cases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,kw",
    [
        (F.dice_loss, dict(sigmoid=True)),
        (F.dice_loss, dict(sigmoid=True, jaccard=True, squared_pred=True, batch=True)),
        (F.dice_loss, dict(**SMP, sigmoid=True)),
        (F.dice_loss, dict(**SMP, sigmoid=True, log_loss=True)),
        (F.tversky_loss, dict(sigmoid=True, gamma=2.0)),
        (F.generalized_dice_loss, dict(sigmoid=True)),
        (F.mcc_loss, dict(sigmoid=True)),
        (F.dice_ce_loss, dict(sigmoid=True)),
        (F.dice_focal_loss, dict(sigmoid=True)),
        (lambda a, b: F.lovasz_hinge_loss(a[:, :1], b[:, :1]), dict()),
        (lambda a, b: F.lovasz_softmax_loss(a, b[:, 0].long()), dict()),
        (lambda a, b: F.lovasz_softmax_loss(a, b[:, 0].long(), classes="all"), dict()),
    ],
)
def test_empty_masks_are_finite(fn, kw):
    """All-background targets (and all-foreground): finite values and gradients."""
    for fill in (0.0, 1.0):
        x = lossgrad.tensor(logits((2, 2, 4, 4)), requires_grad=True)
        y = lossgrad.tensor(np.full((2, 2, 4, 4), fill))
        loss = fn(x, y, **kw)
        loss.sum().backward()
        assert np.isfinite(loss.detach().numpy()).all()
        assert np.isfinite(x.grad.numpy()).all()


def test_empty_masks_match_monai_and_smp():
    empty = np.zeros((2, 1, 4, 4))
    compare(monai_losses.DiceLoss(sigmoid=True), lambda a, b: F.dice_loss(a, b, sigmoid=True), logits((2, 1, 4, 4)), empty, np.float64, 1e-12, 1e-12)
    compare(smp.DiceLoss("binary"), lambda a, b: F.dice_loss(a, b, **_smp(sigmoid=True)), logits((2, 1, 4, 4)), empty, np.float64, 1e-12, 1e-12)


def test_float16_large_image_is_accumulated_in_float32():
    """512x512 ones: sum p + sum g = 524288 overflows float16 (max 65504); the sums are float32."""
    x = lossgrad.tensor(np.full((1, 1, 512, 512), 20.0, np.float16), requires_grad=True)
    y = lossgrad.tensor(np.ones((1, 1, 512, 512), np.float16))
    loss = F.dice_loss(x, y, sigmoid=True)
    loss.backward()
    assert loss.dtype == lossgrad.float16
    assert np.isfinite(float(loss)) and abs(float(loss)) < 1e-3
    assert np.isfinite(x.grad.numpy().astype(np.float64)).all()


@pytest.mark.parametrize(
    "fn,kw",
    [
        (F.dice_loss, dict(softmax=True, to_onehot_y=True)),
        (F.dice_loss, dict(softmax=True, to_onehot_y=True, squared_pred=True, batch=True, weight=[1.0, 2.0, 0.5])),
        (F.dice_loss, dict(sigmoid=True, to_onehot_y=True, soft_label=True, jaccard=True)),
        (F.dice_loss, dict(**SMP, softmax=True, to_onehot_y=True, log_loss=True)),
        (F.dice_loss, dict(softmax=True, to_onehot_y=True, pool_classes=True)),
        (F.tversky_loss, dict(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7, gamma=1.5)),
        (F.generalized_dice_loss, dict(softmax=True, to_onehot_y=True)),
        (F.dice_ce_loss, dict(softmax=True, to_onehot_y=True, label_smoothing=0.1)),
        (F.dice_focal_loss, dict(softmax=True, to_onehot_y=True, alpha=0.3)),
        (F.mcc_loss, dict(softmax=True, to_onehot_y=True)),
        (F.lovasz_softmax_loss, dict()),
        (F.lovasz_softmax_loss, dict(classes="all", per_image=True)),
    ],
)
def test_gradgradcheck(fn, kw):
    x = lossgrad.tensor(logits((2, 3, 3, 3)), requires_grad=True)
    y = labels(2, 3, 3, 3)
    y = lossgrad.tensor(y[:, 0] if fn is F.lovasz_softmax_loss else y)
    assert gradgradcheck(lambda a: fn(a, y, **kw), (x,))


def test_index_target_counts_gradgradcheck_with_ignored_pixels():
    """The fused counts of an index target: second derivatives through its differentiable
    backward, with ignored pixels, for each activation."""
    x = lossgrad.tensor(logits((2, 3, 3, 3)), requires_grad=True)
    y = labels(2, 3, 3, 3)
    y[0, 0, 0] = -1
    y = lossgrad.tensor(y)
    for kw in (dict(softmax=True), dict(sigmoid=True, batch=True), dict(include_background=False)):
        loss = lambda a, kw=kw: F.dice_loss(a, y, to_onehot_y=True, ignore_index=-1, **kw)  # noqa: E731
        assert gradgradcheck(loss, (x,))


@pytest.mark.parametrize("kw", [dict(softmax=True), dict(sigmoid=True, class_average="present")])
def test_fused_gradient_on_large_images_and_a_retained_graph(kw):
    """The fused backward writes the input gradient over the probabilities it kept, on the
    graph's last use only: with ``retain_graph`` a second backward adds the same gradient.
    Images of several pieces each, split over the thread pool (class_average: the counts' op)."""
    x = logits((2, 4, 192, 192))
    y = labels(2, 4, 192, 192)
    monai_kw = {k: v for k, v in kw.items() if k != "class_average"}
    xt = torch.tensor(x, requires_grad=True)
    want = monai_losses.DiceLoss(to_onehot_y=True, **monai_kw)(xt, torch.tensor(y))
    if "class_average" in kw:  # every class present: the mean over the present classes
        assert (np.bincount(y[0].ravel(), minlength=4) > 0).all()
    want.backward()
    xl = lossgrad.tensor(x, requires_grad=True)
    got = F.dice_loss(xl, lossgrad.tensor(y), to_onehot_y=True, **kw)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    got.backward(retain_graph=True)
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-17)
    got.backward()
    np.testing.assert_allclose(xl.grad.numpy(), 2 * xt.grad.numpy(), rtol=1e-10, atol=1e-17)


def test_index_target_counts_match_the_one_hot_composite():
    """Class indices take the fused counts, a one-hot target the composite of ops: the same
    values and gradients (each path is checked against MONAI above)."""
    x = logits((2, 4, 5, 6))
    y = labels(2, 4, 5, 6)
    onehot = (y == np.arange(4).reshape(1, 4, 1, 1)).astype(np.float64)
    for kw in (dict(softmax=True), dict(sigmoid=True, batch=True), dict(classes=[3, 1]), dict(include_background=False, jaccard=True)):
        ours_index = lossgrad.tensor(x, requires_grad=True)
        ours_onehot = lossgrad.tensor(x, requires_grad=True)
        by_index = F.dice_loss(ours_index, lossgrad.tensor(y), to_onehot_y=True, **kw)
        by_onehot = F.dice_loss(ours_onehot, lossgrad.tensor(onehot), **kw)
        np.testing.assert_allclose(float(by_index), float(by_onehot), rtol=1e-13)
        by_index.backward()
        by_onehot.backward()
        np.testing.assert_allclose(ours_index.grad.numpy(), ours_onehot.grad.numpy(), rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize(
    "settings",
    [
        dict(alpha=0.5, beta=0.5, smooth_nr=1e-5, smooth_dr=1e-5, eps=0.0, log_loss=False, zero_absent=False),
        dict(alpha=0.3, beta=0.7, smooth_nr=0.0, smooth_dr=0.0, eps=0.5, log_loss=False, zero_absent=True),
        dict(alpha=1.0, beta=1.0, smooth_nr=0.1, smooth_dr=0.2, eps=0.3, log_loss=True, zero_absent=False),
        dict(alpha=0.2, beta=0.1, smooth_nr=0.0, smooth_dr=0.0, eps=1e-7, log_loss=True, zero_absent=True),
    ],
)
@pytest.mark.parametrize("reduction,weighted,pooled", [("mean", False, False), ("sum", True, False), ("none", True, False), ("mean", False, True), ("none", False, True)])
def test_score_loss_kernel_matches_its_composite(settings, reduction, weighted, pooled):
    """The fused loss of the counts (NumPy, with its own derivatives) against its definition in
    lossgrad ops, on counts where the eps clamps of the denominator and of the log are active
    and a class is absent, with gradients into all three counts (a soft target with a gradient);
    with class weights on the loss, or the counts pooled over the classes with weights."""
    from lossgrad.nn.functional.loss_segmentation import (
        _Finish,
        _pooled,
        _Score,
        _score_loss,
        _ScoreLoss,
    )

    score = _Score(**settings)
    actual = rng.random((3, 4)) * 2
    actual[0, 1] = 0.0
    tp = actual * rng.random((3, 4))
    predicted = tp + rng.random((3, 4)) * 2
    predicted[1, 2] = tp[1, 2] = actual[1, 2] = 0.0  # the denominator below eps
    if pooled:
        predicted[1], tp[1], actual[1] = 0.0, 0.0, 0.0
    weight = lossgrad.tensor(rng.random(4)) if weighted else None
    pool = rng.random((3, 4)) if pooled else None
    results = []
    for fused in (True, False):
        counts = [lossgrad.tensor(c, requires_grad=True) for c in (tp, predicted, actual)]
        if fused:
            loss = _ScoreLoss.apply(*counts, _Finish(score, pool, None if weight is None else weight.numpy(), reduction))
        else:
            loss = _score_loss(*_pooled(counts, pool), score)
            loss = F._reduction.apply(loss if weight is None else loss * weight, reduction)
        seed = lossgrad.tensor(np.linspace(0.5, 1.5, loss.numel()).reshape(tuple(loss.shape)))
        (loss * seed).sum().backward()
        results.append([loss.detach().numpy()] + [c.grad.numpy() for c in counts])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    # second derivatives away from the kinks of the clamps (finite differences)
    counts = [lossgrad.tensor(c + 1.0, requires_grad=True) for c in (tp, predicted, actual)]
    finish = _Finish(score, pool, None if weight is None else weight.numpy(), reduction)
    assert gradgradcheck(lambda *c: _ScoreLoss.apply(*c, finish), counts)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps,smooth_nr,smooth_dr", [(0.0, 0.0, 1e-5), (1e-3, 0.1, 0.0)])
def test_matthews_kernel_matches_its_composite(reduction, eps, smooth_nr, smooth_dr):
    """The fused MCC loss of the counts (NumPy, hand-derived derivatives) against its definition
    in lossgrad ops, with an exact prediction (loss 0, gradient 0) and gradients into all three
    counts; second derivatives through the composite."""
    from lossgrad.nn.functional.loss_segmentation import _Matthews, _matthews_loss, _MatthewsLoss

    settings = _Matthews(50.0, eps, smooth_nr, smooth_dr, reduction)
    actual = rng.random((3, 4)) * 20 + 1
    tp = actual * rng.random((3, 4))
    predicted = tp + rng.random((3, 4)) * 20
    predicted[1, 2] = actual[1, 2] = tp[1, 2]  # exact: fp = fn = 0
    results = []
    for fused in (True, False):
        counts = [lossgrad.tensor(c, requires_grad=True) for c in (tp, predicted, actual)]
        loss = _MatthewsLoss.apply(*counts, settings) if fused else _matthews_loss(counts, settings)
        seed = lossgrad.tensor(np.linspace(0.5, 1.5, loss.numel()).reshape(tuple(loss.shape)))
        (loss * seed).sum().backward()
        results.append([loss.detach().numpy()] + [c.grad.numpy() for c in counts])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    predicted[1, 2] += 1.0  # second derivatives away from the exact prediction's jump
    counts = [lossgrad.tensor(c, requires_grad=True) for c in (tp, predicted, actual)]
    assert gradgradcheck(lambda *c: _MatthewsLoss.apply(*c, settings), counts)


def test_lovasz_hinge_gradgradcheck():
    """Piecewise linear in the logits: second derivative 0 away from the kinks (checked)."""
    x = lossgrad.tensor(logits((2, 1, 3, 3)), requires_grad=True)
    y = lossgrad.tensor(binary_labels((2, 1, 3, 3)))
    assert gradgradcheck(lambda a: F.lovasz_hinge_loss(a, y, per_image=False), (x,))


def test_gradient_of_soft_targets_matches_monai():
    """Gradients flow to a soft target as in MONAI (second input of the autograd check)."""
    x = logits((2, 2, 3, 3))
    soft = rng.random((2, 2, 3, 3))
    yt = torch.tensor(soft, requires_grad=True)
    monai_losses.DiceLoss(softmax=True, soft_label=True)(torch.tensor(x), yt).backward()
    yl = lossgrad.tensor(soft, requires_grad=True)
    F.dice_loss(lossgrad.tensor(x), yl, softmax=True, soft_label=True).backward()
    np.testing.assert_allclose(yl.grad.numpy(), yt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "bad, message",
    [
        (1.5, "whole numbers"),
        (np.nan, "whole numbers"),
        (np.inf, "whole numbers"),
        (3.0, r"\[0, 3\).*\[0, 3\]"),
        (-1.0, r"\[0, 3\).*\[-1, 2\]"),
    ],
)
def test_float_class_indices_are_checked(bad, message):
    """Float class indices (as MONAI takes them): whole numbers in range match MONAI; one bad
    value anywhere raises the error naming the target."""
    rng = np.random.default_rng(5)
    x = logits((2, 3, 8, 8))
    y = rng.integers(0, 3, (2, 1, 8, 8)).astype(np.float32)
    y[0, 0, 0, 0], y[1, 0, 7, 7] = 0, 2  # both extremes present
    want = monai_losses.DiceLoss(softmax=True, to_onehot_y=True)(torch.tensor(x), torch.tensor(y))
    got = F.dice_loss(lossgrad.tensor(x), lossgrad.tensor(y), softmax=True, to_onehot_y=True)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    y[1, 0, 3, 4] = bad
    with pytest.raises(ValueError, match=f"target.*{message}"):
        F.dice_loss(lossgrad.tensor(x), lossgrad.tensor(y), softmax=True, to_onehot_y=True)


def test_bad_inputs_name_the_argument():
    x = lossgrad.tensor(logits((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="target"):
        F.dice_loss(x, lossgrad.tensor(np.zeros((2, 2, 4, 4))))
    with pytest.raises(ValueError, match=r"target.*\[0, 3\).*\[5, 5\]"):
        F.dice_loss(x, lossgrad.tensor(np.full((2, 1, 4, 4), 5)), to_onehot_y=True)
    with pytest.raises(ValueError, match="weight"):
        F.dice_loss(x, lossgrad.tensor(labels(2, 3, 4, 4)), to_onehot_y=True, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="weight"):
        F.dice_loss(x, lossgrad.tensor(labels(2, 3, 4, 4)), to_onehot_y=True, weight=-1.0)
    with pytest.raises(ValueError, match="w_type"):
        F.generalized_dice_loss(x, x, w_type="cube")
    with pytest.raises(ValueError, match="Incompatible"):
        F.dice_loss(x, x, sigmoid=True, softmax=True)
    with pytest.raises(ValueError, match="reduction"):
        F.dice_loss(x, x, reduction="batchmean")
    with pytest.raises(TypeError, match="input"):
        F.dice_loss(lossgrad.tensor(np.zeros((2, 3, 4, 4), np.int64)), x)
    with pytest.raises(ValueError, match="input"):
        F.dice_loss(lossgrad.tensor(np.zeros((2, 3))), lossgrad.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="lambda_ce"):
        F.dice_ce_loss(x, x, lambda_ce=-1.0)


def test_inputs_are_not_mutated():
    x_np, y_np = logits((2, 3, 4, 4)), labels(2, 3, 4, 4)
    y_np[0, 0, 0] = -1
    x_copy, y_copy = x_np.copy(), y_np.copy()
    x, y = lossgrad.tensor(x_np), lossgrad.tensor(y_np)
    for fn in (F.dice_loss, F.tversky_loss, F.jaccard_loss, F.mcc_loss, F.generalized_dice_loss):
        kw = dict(softmax=True, to_onehot_y=True)
        if fn in (F.dice_loss, F.tversky_loss, F.jaccard_loss):
            kw["ignore_index"] = -1
        else:
            y = lossgrad.tensor(np.where(y_np < 0, 0, y_np))
        fn(x, y, **kw)
    x_shared = lossgrad.from_numpy(x_np).requires_grad_()  # the caller's array itself
    clean = lossgrad.tensor(np.where(y_np < 0, 0, y_np))
    F.dice_ce_loss(x_shared, clean, softmax=True, to_onehot_y=True).backward()
    F.dice_focal_loss(x_shared, clean, softmax=True, to_onehot_y=True).backward()
    F.lovasz_softmax_loss(x_shared, lossgrad.tensor(y_np[:, 0]), ignore_index=-1).backward()
    binary = lossgrad.tensor(np.where(y_np[:, 0] > 0, 1, y_np[:, 0]))
    F.lovasz_hinge_loss(x_shared[:, :1], binary, ignore_index=-1).backward()
    np.testing.assert_array_equal(x.numpy(), x_copy)
    np.testing.assert_array_equal(x_np, x_copy)
    np.testing.assert_array_equal(y_np, y_copy)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        ("DiceLoss", "DiceLoss"),
        ("TverskyLoss", "TverskyLoss"),
        ("GeneralizedDiceLoss", "GeneralizedDiceLoss"),
        ("DiceCELoss", "DiceCELoss"),
        ("DiceFocalLoss", "DiceFocalLoss"),
        ("MCCLoss", "MCCLoss"),
    ],
)
def test_monai_keyword_names_and_defaults(ours, theirs):
    """Every MONAI keyword exists here with MONAI's default, in MONAI's order (ignore_index,
    last in MONAI, is keyword-only in tversky_loss)."""
    import inspect

    mine = inspect.signature(getattr(lossgrad.nn, ours)).parameters
    reference = inspect.signature(getattr(monai_losses, theirs)).parameters
    names = [n for n in reference if n != "ignore_index"]
    assert [n for n in mine if n in names] == names
    for name in names:
        default = reference[name].default
        assert mine[name].default == default or (name == "reduction" and default.value == mine[name].default), name


# -- the class options: smp's classes and class_weights, kornia's 'macro' and weights, Keras's axis -


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize(
    "smp_kw,ours",
    [
        (dict(classes=[0, 2]), dict(classes=[0, 2])),
        (dict(class_weights=[1.0, 2.0, 0.5, 3.0]), dict(class_average="weighted", weight=[1.0, 2.0, 0.5, 3.0])),
        (dict(classes=[3, 1], class_weights=[1.0, 2.0, 0.5, 3.0]), dict(classes=[3, 1], class_average="weighted", weight=[3.0, 2.0])),
        (dict(classes=[1, 3], log_loss=True, smooth=0.5), dict(classes=[1, 3], log_loss=True, smooth=0.5)),
    ],
)
def test_dice_and_jaccard_match_smp_classes_and_class_weights(smp_kw, ours, dtype, rtol, atol):
    """smp's ``classes`` keeps channels, its ``class_weights`` average them with weights
    (``sum w l / sum w``); class 3 is absent from the batch (its loss is 0 and still counted)."""
    y = labels(2, 4)[:, 0]
    y[y == 3] = 2
    x = logits((2, 4, 5, 6))
    multiclass = _smp(softmax=True, to_onehot_y=True, **ours)  # smooth=s: smooth_nr=smooth_dr=2s
    compare(smp.DiceLoss("multiclass", **smp_kw), lossgrad.nn.DiceLoss(**multiclass), x, y, dtype, rtol, atol)
    compare(smp.JaccardLoss("multiclass", **smp_kw), lambda a, b: F.jaccard_loss(a, b, **multiclass), x, y, dtype, rtol, atol)
    ym = (rng.random((2, 4, 5, 6)) > 0.5).astype(dtype)
    ym[:, 3] = 0
    multilabel = _smp(sigmoid=True, **ours)
    compare(smp.DiceLoss("multilabel", **smp_kw), lambda a, b: F.dice_loss(a, b, **multilabel), x, ym, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize(
    "smp_kw,ours",
    [
        (dict(gamma=2.0), dict()),
        (dict(gamma=0.75, alpha=0.3, beta=0.7), dict(alpha=0.3, beta=0.7)),
        (dict(gamma=1.5, classes=[3, 1], class_weights=[1.0, 2.0, 0.5, 3.0]), dict(classes=[3, 1], class_average="weighted", weight=[3.0, 2.0])),
        (dict(gamma=2.0, log_loss=True, smooth=0.5), dict(log_loss=True, smooth_nr=0.5, smooth_dr=0.5)),
    ],
)
def test_tversky_gamma_matches_smp_multiclass_and_multilabel(smp_kw, ours, dtype, rtol, atol):
    """smp raises the reduced loss (the mean over the classes, or their weighted mean) to
    ``gamma``: ``gamma_after_reduction=True``; class 3 is absent from the batch."""
    y = labels(2, 4)[:, 0]
    y[y == 3] = 2
    x = logits((2, 4, 5, 6))
    settings = dict(SMP, gamma=smp_kw["gamma"], gamma_after_reduction=True, **ours)
    multiclass = dict(settings, softmax=True, to_onehot_y=True)
    compare(smp.TverskyLoss("multiclass", **smp_kw), lossgrad.nn.TverskyLoss(**multiclass), x, y, dtype, rtol, atol)
    ym = (rng.random((2, 4, 5, 6)) > 0.5).astype(dtype)
    ym[:, 3] = 0
    compare(smp.TverskyLoss("multilabel", **smp_kw), lambda a, b: F.tversky_loss(a, b, **dict(settings, sigmoid=True)), x, ym, dtype, rtol, atol)
    # the default raises each class's loss to gamma: not smp's multiclass value
    per_class = F.tversky_loss(lossgrad.tensor(x), lossgrad.tensor(y), **dict(multiclass, gamma_after_reduction=False))
    want = smp.TverskyLoss("multiclass", **smp_kw)(torch.tensor(x), torch.tensor(y))
    assert abs(float(per_class) - float(want)) > 1e-4


KORNIA = dict(softmax=True, to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-8, ignore_index=-100)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("size", [(5, 6), (64, 64)])  # kornia's one-hot path, and its gather path
def test_dice_matches_kornia_macro_and_weights(size, dtype, rtol, atol):
    """kornia's 'macro' averages each sample's Dice losses over the classes present in its
    target (a sample with none scores 1); ``weight`` weighs that average, or each class's counts
    in 'micro'. Class 3 is absent from sample 1; sample 2's pixels are all ignored."""
    y = labels(3, 4, *size)[:, 0]
    y[1][y[1] == 3] = 0
    y[0, 0, :3] = -100
    y[2] = -100
    x = logits((3, 4, *size))
    weight = np.array([1.0, 2.0, 0.5, 3.0], dtype)
    macro = dict(KORNIA, class_average="present")
    compare(lambda a, b: kornia.losses.dice_loss(a, b, average="macro"), lambda a, b: F.dice_loss(a, b, **macro), x, y, dtype, rtol, atol)
    compare(
        lambda a, b: kornia.losses.dice_loss(a, b, average="macro", weight=torch.tensor(weight)),
        lossgrad.nn.DiceLoss(**macro, weight=lossgrad.tensor(weight)),
        x, y, dtype, rtol, atol,
    )
    micro = dict(KORNIA, pool_classes=True, weight=weight)
    compare(lambda a, b: kornia.losses.dice_loss(a, b, weight=torch.tensor(weight)), lambda a, b: F.dice_loss(a, b, **micro), x, y, dtype, rtol, atol)


@pytest.mark.parametrize("axis,ours", [((1, 2, 3), dict(pool_classes=True)), ((1, 2), dict())])
def test_dice_matches_keras_per_sample_axes(axis, ours):
    """Keras's ``axis`` (channels last): (1, 2, 3) one Dice per sample, (1, 2) one per sample and
    channel, averaged (its 'sum_over_batch_size')."""
    p = rng.random((2, 3, 5, 6))
    y = (rng.random((2, 3, 5, 6)) > 0.5).astype(np.float64)
    got = F.dice_loss(lossgrad.tensor(p), lossgrad.tensor(y), smooth_nr=0.0, smooth_dr=1e-7, **ours)
    want = keras_value(keras.losses.Dice(axis=axis), np.moveaxis(y, 1, -1), np.moveaxis(p, 1, -1))
    np.testing.assert_allclose(float(got), want, rtol=1e-6)


def test_class_options_reject_bad_values():
    x, y = lossgrad.tensor(logits((2, 3, 4, 4))), lossgrad.tensor(labels(2, 3, 4, 4))
    kw = dict(softmax=True, to_onehot_y=True)
    with pytest.raises(ValueError, match=r"classes.*\[0, 3\).*\[0, 5\]"):
        F.dice_loss(x, y, classes=[0, 5], **kw)
    with pytest.raises(ValueError, match="classes.*include_background"):
        F.dice_loss(x, y, classes=[1, 2], include_background=False, **kw)
    with pytest.raises(ValueError, match="class_average.*'macro'"):
        F.dice_loss(x, y, class_average="macro", **kw)
    with pytest.raises(ValueError, match="pool_classes"):
        F.dice_loss(x, y, class_average="present", pool_classes=True, **kw)
    with pytest.raises(ValueError, match="weight.*positive sum"):
        F.dice_loss(x, y, class_average="weighted", weight=0.0, **kw)


def test_bad_targets_raise_the_references_classes_too():
    """A mismatched target: MONAI and smp raise AssertionError, torch's losses ValueError; a class
    index out of range: MONAI, smp and kornia raise torch's RuntimeError (one_hot / scatter),
    torch's own losses name the target in a ValueError-like message. lossgrad raises one
    exception that is a ValueError (what torch users catch) and also the reference's class."""
    x = logits((2, 3, 4, 4))
    mismatched, out_of_range = np.zeros((2, 2, 4, 4)), np.full((2, 1, 4, 4), 5)
    cases = [
        (lambda a, b: monai_losses.DiceLoss()(a, b), dict(), mismatched),
        (lambda a, b: monai_losses.TverskyLoss()(a, b), dict(), mismatched),
        (lambda a, b: monai_losses.DiceLoss(to_onehot_y=True)(a, b), dict(to_onehot_y=True), out_of_range),
        (lambda a, b: smp.DiceLoss("multiclass")(a, b[:, 0]), _smp(softmax=True, to_onehot_y=True), out_of_range),
        (lambda a, b: kornia.losses.dice_loss(a, b[:, 0]), dict(KORNIA, pool_classes=True), out_of_range),
    ]
    for reference, ours, target in cases:
        with pytest.raises(Exception) as theirs:
            reference(torch.tensor(x), torch.tensor(target))
        with pytest.raises(ValueError, match="target") as mine:
            F.dice_loss(lossgrad.tensor(x), lossgrad.tensor(target), **ours)
        assert isinstance(mine.value, type(theirs.value)), (type(theirs.value), type(mine.value))
    with pytest.raises(AssertionError, match="target"):
        F.tversky_loss(lossgrad.tensor(x), lossgrad.tensor(mismatched))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lovasz_sort_orders_rows_as_a_stable_descending_argsort(dtype):
    # the float32 rows take a radix sort of the float bits: its order must be NumPy's stable
    # argsort of -x, negatives, signed zeros, infinities and ties included
    from lossgrad.nn.functional.loss_segmentation import _descending_order

    rng = np.random.default_rng(0)
    errors = (rng.standard_normal((3, 300)) * 5).astype(dtype)
    errors[:, ::7] = 0.0
    errors[:, 1::11] = -0.0
    errors[:, 2::13] = np.inf
    errors[:, 3::17] = -np.inf
    errors[:, 100:200] = errors[:, 200:300]  # ties
    order = _descending_order(errors)
    expected = np.argsort(-errors, axis=-1, kind="stable")
    np.testing.assert_array_equal(errors.ravel()[order], np.take_along_axis(errors, expected, -1))
    if dtype == np.float32:  # ties in index order, as the stable argsort (+0.0 before -0.0)
        ties = np.repeat(rng.standard_normal((3, 30)), 10, axis=1).astype(dtype)
        order = _descending_order(ties) % 300
        np.testing.assert_array_equal(order, np.argsort(-ties, axis=-1, kind="stable"))


def test_dice_ce_on_a_large_float16_batch_is_finite():
    # the mean cross-entropy of 73,728 float16 pixels: torch's Half NLL (and so MONAI's
    # DiceCELoss) sums in float16 and gives NaN; lossgrad computes the term in float32 and
    # rounds once, so the loss is MONAI's float32 value rounded to float16
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 192, 192)).astype(np.float16)
    y = rng.integers(0, 3, (2, 1, 192, 192))
    kw = dict(softmax=True, to_onehot_y=True)
    assert torch.isnan(monai_losses.DiceCELoss(**kw)(torch.tensor(x), torch.tensor(y)))
    want = monai_losses.DiceCELoss(**kw)(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    xt = lossgrad.tensor(x, requires_grad=True)
    loss = F.dice_ce_loss(xt, lossgrad.tensor(y), **kw)
    loss.backward()
    assert loss.dtype == lossgrad.float16 and np.isfinite(xt.grad.numpy()).all()
    np.testing.assert_allclose(float(loss.detach()), float(want), rtol=1e-3)
