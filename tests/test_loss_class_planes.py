"""Spatial cross_entropy, nll_loss and focal_loss on many positions per class: the row driver's
class-plane layout (`_rows`: ``(b, C, p)`` blocks of the input, not transposed to rows) against
torch (focal_loss, which torch lacks, against its formula in torch ops). Covers blocks of whole
samples and of one sample's positions, several threads, ignored targets, class weights, label
smoothing, logits large enough to need the max shift, strided inputs and second derivatives."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad import _parallel
from lossgrad.nn.functional import _rows
from parity import check

rng = np.random.default_rng(12)

#: input shapes: few positions per block (one block), whole samples per block, runs of one
#: sample's positions per block (over MIN_PARALLEL elements: the thread pool)
SHAPES = [(2, 3, 16, 16), (3, 4, 8, 8, 8), (2, 5, 256, 256)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = _parallel.get_num_threads()
    _parallel.set_num_threads(request.param)
    yield request.param
    _parallel.set_num_threads(before)


def _inputs(shape, ignore, scale=1.0, dtype=np.float32):
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int64)
    if ignore:
        t.reshape(-1)[::3] = -100
    w = rng.uniform(0.2, 2.0, shape[1]).astype(dtype)
    return x, t, w


def test_planes_are_taken():
    """The shapes above take the class-plane layout (else this file tests the row layout)."""
    for shape in SHAPES:
        x = np.zeros(shape, np.float32)
        assert _rows._class_planes(lossgrad.nn.functional.loss_classification._CROSS_ENTROPY, x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy(threads, shape, ignore, weight, ls, reduction):
    x, t, w = _inputs(shape, ignore)

    def fn(lib, x, t, w):
        return lib.nn.functional.cross_entropy(
            x, t, w if weight else None, reduction=reduction, label_smoothing=ls
        )

    second_order = shape[2] < 256  # the recorded backward: once per layout is enough
    check(fn, [x, t, w], second_order=second_order)
    check(fn, [x, t, w], second_order=False)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss(threads, shape, ignore, weight, reduction):
    x, t, w = _inputs(shape, ignore)

    def fn(lib, x, t, w):
        return lib.nn.functional.nll_loss(x, t, w if weight else None, reduction=reduction)

    check(fn, [x, t, w], second_order=shape[2] < 256)
    check(fn, [x, t, w], second_order=False)


@pytest.mark.parametrize("scale", [60.0, 1e4])
def test_large_logits_need_the_shift(threads, scale):
    """Logits beyond the unshifted bound: the block is redone with its maximum shifted out."""
    x, t, w = _inputs(SHAPES[2], True, scale)
    x[0, :, 0, 1] = [np.inf, 0, 0, 0, 0]  # an infinite logit (a target not ignored): NaN
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t), [x, t], second_order=False)


def test_strided_input_and_float64():
    x, t, _ = _inputs((2, 6, 128, 128), False, dtype=np.float64)
    strided = x[:, ::2]
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t), [strided, t])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_focal_loss(threads, shape, reduction):
    """focal_loss against its formula in torch ops: ``(1 - exp(-ce))**2 ce``, the mean over
    cross-entropy's denominator (the weights of the targets not ignored)."""
    x, t, w = _inputs(shape, True)

    def fn(lib, x, t, w):
        F = lib.nn.functional
        if lib is lossgrad:
            return F.focal_loss(x, t, gamma=2.0, weight=w, reduction=reduction)
        ce = F.cross_entropy(x, t, w, reduction="none")
        loss = (1 - torch.exp(-ce)) ** 2 * ce
        return loss if reduction == "none" else loss.sum() / w[t[t != -100]].sum()

    check(fn, [x, t, w], second_order=False)
