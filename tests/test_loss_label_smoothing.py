"""label_smoothing= on binary_cross_entropy[_with_logits] against Keras (its convention) and
segmentation_models_pytorch (twice the smoothing)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import lossgrad as lg  # noqa: E402
import lossgrad.nn as lnn  # noqa: E402
import lossgrad.nn.functional as F  # noqa: E402
from lossgrad.autograd import gradgradcheck  # noqa: E402
from oracles import load_submodule  # noqa: E402

rng = np.random.default_rng(2)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35, 1.0])
@pytest.mark.parametrize("from_logits", [True, False])
def test_equals_keras(from_logits, smoothing):
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 2
    target = (rng.random((6, 5)) > 0.5).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits))  # away from 0 and 1: Keras clips at 1e-7
    inputs = logits if from_logits else probabilities
    expected = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)(
        target, inputs
    )
    loss = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
    ours = loss(lg.tensor(inputs), lg.tensor(target), label_smoothing=smoothing)
    np.testing.assert_allclose(ours.item(), float(expected), rtol=2e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_gradients_equal_keras(from_logits, reduction, dtype):
    """Values and gradients against Keras on its JAX backend (``jax.grad``), each reduction.

    float32: Keras's ``BinaryCrossentropy``, which averages over the last axis before reducing,
    so the inputs go to it as ``(N·C, 1)``: one element per sample, our elementwise loss.
    float64: that class is only float32-accurate (its mean over the last axis,
    ``keras.ops.mean``, runs in float32 on the JAX backend), so Keras's elementwise op
    ``keras.ops.binary_crossentropy`` on the target smoothed by the class's rule,
    ``y (1 - s) + 0.5 s``."""
    smoothing = 0.2
    logits = rng.normal(size=(4, 5)).astype(dtype) * 2
    target = (rng.random((4, 5)) > 0.5).astype(dtype)
    upstream = rng.normal(size=(4, 5)).astype(dtype)
    inputs = logits if from_logits else 1 / (1 + np.exp(-logits))
    keras_loss = keras.losses.BinaryCrossentropy(
        from_logits=from_logits,
        label_smoothing=smoothing,
        reduction={"none": None, "sum": "sum", "mean": "sum_over_batch_size"}[reduction],
    )
    reduce = {"none": lambda out: jnp.sum(out * upstream), "sum": jnp.sum, "mean": jnp.mean}

    def reference(x):
        if dtype == np.float64:
            smoothed = jnp.asarray(target * (1 - smoothing) + 0.5 * smoothing)
            return reduce[reduction](
                keras.ops.binary_crossentropy(smoothed, x, from_logits=from_logits)
            )
        out = keras_loss(jnp.asarray(target.reshape(-1, 1)), x.reshape(-1, 1))
        return jnp.sum(out * upstream.reshape(-1)) if reduction == "none" else out

    with jax.enable_x64(dtype == np.float64):
        expected, expected_grad = jax.value_and_grad(reference)(jnp.asarray(inputs))
    loss = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
    ours = lg.tensor(inputs, requires_grad=True)
    out = loss(ours, lg.tensor(target), label_smoothing=smoothing, reduction=reduction)
    total = (out * lg.tensor(upstream)).sum() if reduction == "none" else out
    total.backward()
    assert total.dtype == (lg.float32 if dtype == np.float32 else lg.float64)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total.item(), float(expected), rtol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), np.asarray(expected_grad), rtol=tol, atol=tol)


def test_smp_smooth_factor_is_twice_ours():
    soft_bce = load_submodule("segmentation_models_pytorch.losses.soft_bce")
    logits = rng.normal(size=(4, 3, 5)).astype(np.float64)
    target = (rng.random((4, 3, 5)) > 0.4).astype(np.float64)
    theirs_input = torch.tensor(logits, requires_grad=True)
    theirs = soft_bce.SoftBCEWithLogitsLoss(smooth_factor=0.1)(theirs_input, torch.tensor(target))
    theirs.backward()
    ours_input = lg.tensor(logits, requires_grad=True)
    ours = F.binary_cross_entropy_with_logits(ours_input, lg.tensor(target), label_smoothing=0.2)
    ours.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(ours_input.grad.numpy(), theirs_input.grad.numpy(), atol=1e-14)


def test_zero_is_torch_and_modules_forward_it():
    logits = rng.normal(size=(5,)).astype(np.float32)
    target = np.array([1, 0, 1, 1, 0], np.float32)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(lg.tensor(logits), lg.tensor(target)).numpy(),
        torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(logits), torch.tensor(target)
        ).numpy(),
        rtol=2e-7,  # float32 summation order
    )
    smoothed = lnn.BCEWithLogitsLoss(label_smoothing=0.2)(lg.tensor(logits), lg.tensor(target))
    by_hand = F.binary_cross_entropy_with_logits(lg.tensor(logits), lg.tensor(target * 0.8 + 0.1))
    assert smoothed.item() == by_hand.item()
    probabilities = lg.tensor(1 / (1 + np.exp(-logits)))
    assert (
        lnn.BCELoss(label_smoothing=0.2)(probabilities, lg.tensor(target)).item()
        == F.binary_cross_entropy(probabilities, lg.tensor(target * 0.8 + 0.1)).item()
    )


def test_second_derivative_and_bad_value():
    logits = lg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    target = lg.tensor((rng.random((3, 2)) > 0.5).astype(np.float64))
    assert gradgradcheck(
        lambda x: F.binary_cross_entropy_with_logits(x, target, label_smoothing=0.3), (logits,)
    )
    probabilities = lg.tensor(rng.uniform(0.1, 0.9, size=(3, 2)), requires_grad=True)
    assert gradgradcheck(
        lambda x: F.binary_cross_entropy(x, target, label_smoothing=0.3), (probabilities,)
    )
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.binary_cross_entropy(lg.tensor([0.5]), lg.tensor([1.0]), label_smoothing=1.5)
    for loss in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(
            TypeError,
            match=rf"^{loss.__name__}\(\): argument 'label_smoothing' must be float, not str",
        ):
            loss(lg.tensor([0.5]), lg.tensor([1.0]), label_smoothing="0.1")
