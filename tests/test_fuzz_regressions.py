"""Regression tests for the disagreements with torch that differential fuzzing found.

Each expected value or exception class comes from torch, computed in the test. Bugs that live
in code being rewritten elsewhere are strict xfails: they fail today and must pass once fixed.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import lossgrad
from parity import check, check_raises

LG = lossgrad.nn.functional
TH = torch.nn.functional


def _raises_like_torch(name, *args, **kwargs):
    def call(lib):
        converted = [lib.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        getattr(lib.nn.functional, name)(*converted, **kwargs)

    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(Exception) as ours:
        call(lossgrad)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)


# -- exception classes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, args",
    [
        ("kl_div", (0.5, np.ones(2))),
        ("kl_div", (np.ones(2), [0.5, 1.0])),
        ("poisson_nll_loss", (np.ones(2), None)),
        ("poisson_nll_loss", (0.7, np.ones(2))),
        ("soft_margin_loss", (np.ones(2), [1.0, -1.0])),
        ("soft_margin_loss", (None, np.ones(2))),
        ("multilabel_soft_margin_loss", (0.5, np.ones((1, 2)))),
        ("multilabel_soft_margin_loss", (np.ones((1, 2)), None)),
        ("multilabel_soft_margin_loss", (np.ones((1, 2)), [0.0, 1.0])),
    ],
)
def test_non_tensor_argument_is_a_type_error(name, args):
    _raises_like_torch(name, *args)


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("soft_margin_loss", (np.ones((2, 3)), np.ones((2, 5))), {}),
        (
            "binary_cross_entropy",
            (np.full((2, 3), 0.5), np.full((2, 3), 0.5)),
            {"weight": np.ones(4)},
        ),
    ],
)
def test_non_broadcastable_shapes_are_a_runtime_error(name, args, kwargs):
    def call(lib):
        converted = {k: lib.tensor(v) for k, v in kwargs.items()}
        getattr(lib.nn.functional, name)(*(lib.tensor(a) for a in args), **converted)

    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(RuntimeError):
        call(lossgrad)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"])
def test_shapes_are_checked_before_the_reduction_like_torch(name):
    _raises_like_torch(name, np.ones((2, 3)), np.ones((2, 5)), reduction="avg")


# -- values ----------------------------------------------------------------------------------------


def test_kl_div_batchmean_divides_by_the_input_batch_when_the_target_broadcasts():
    x = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    y = np.array([[0.4, 0.3, 0.2, 0.1]])
    check(
        lambda lib, a, b: lib.nn.functional.kl_div(a, b, reduction="batchmean"), [x, y], grad=(0, 1)
    )


# -- cancellation in fused reductions ------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(
    "name", ["soft_margin_loss", "binary_cross_entropy_with_logits", "multilabel_soft_margin_loss"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_correct_margin_does_not_cancel_the_other_terms(name, reduction, dtype):
    x = np.array([[1e8, -2.0, 0.5, -1e8]], dtype)
    y = np.array([[1.0, 1.0, 0.0, 0.0 if name != "soft_margin_loss" else -1.0]], dtype)
    out = check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction), [x, y]
    )
    assert out.item() > 0.5


def test_smooth_l1_with_a_tiny_beta_is_finite_like_torch():
    x = np.array([1e30, 3.0, -2.5e30], np.float32)
    y = np.array([-1e30, 0.0, 0.0], np.float32)
    out = check(
        lambda lib, a, b: lib.nn.functional.smooth_l1_loss(a, b, beta=1e-30, reduction="none"),
        [x, y],
    )
    assert np.all(np.isfinite(out.detach().numpy()))


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_smooth_l1_with_a_beta_that_underflows_float16_is_l1_like_torch(reduction):
    # beta = 1e-30 is 0 in float16: torch's kernel gives |d|, slope sgn(d), NaN at d = 0 or NaN
    x = np.array([-2.62, 1.769, np.nan, 0.5, -np.inf], np.float16)
    y = np.array([-1.739, 0.6377, 1.0, 0.5, 1.0], np.float16)
    check(
        lambda lib, a, b: lib.nn.functional.smooth_l1_loss(a, b, beta=1e-30, reduction=reduction),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_margin_second_derivative_beyond_the_sigmoid_saturation(dtype):
    # sigmoid(yx) sigmoid(-yx), not s (1 - s) with s = 1: 2e-9 at yx = 20, 4e-18 at yx = 40
    x = np.array([20.0, 40.0, -3.0], dtype)
    check(
        lambda lib, a, b: lib.nn.functional.soft_margin_loss(a, b, reduction="sum"),
        [x, np.ones(3, dtype)],
        rtol=1e-6,
        atol=0.0,
    )


# -- float16: torch adds and divides a Half mean in float32 and rounds once ----------------------


@pytest.mark.parametrize(
    "name",
    [
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "hinge_embedding_loss",
        "binary_cross_entropy_with_logits",
        "margin_ranking_loss",
    ],
)
def test_float16_mean_is_added_in_float32_like_torch(name):
    # four terms of 40,000: their float16 sum overflows, their mean does not
    x = np.full((2, 2), 40000.0, np.float16)
    y = 0.0 if name == "binary_cross_entropy_with_logits" else 1.0
    args = [x, np.full((2, 2), y, np.float16)]
    if name == "margin_ranking_loss":
        args = [-x, np.zeros((2, 2), np.float16), np.ones((2, 2), np.float16)]
    out = check(lambda lib, *t: getattr(lib.nn.functional, name)(*t), args, grad=(0,))
    assert np.isfinite(out.item())


def test_float16_kl_div_batchmean_rounds_the_sum_first_like_torch():
    x = np.zeros((2, 2), np.float16)
    y = np.full((2, 2), 6000.0, np.float16)  # terms y log y = 52,000: their sum overflows
    means = [
        check(lambda lib, a, b, r=reduction: lib.nn.functional.kl_div(a, b, reduction=r), [x, y])
        for reduction in ("mean", "batchmean")
    ]
    assert np.isfinite(means[0].item()) and np.isinf(means[1].item())


@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_float16_bce_with_logits_rounds_like_torchs_half_kernel(pos_weight):
    # (1 - y) x - log_sigmoid(x) cancels at x = -6.4, y = 0: torch's Half rounding gives 0
    x = np.array([-6.402, -4.035, -5.14, 2.016, 3.0], np.float16)
    y = np.array([0.0, 0.46, 0.805, 1.0, 0.25], np.float16)

    def fn(lib, a, b):
        pw = None if pos_weight is None else lib.tensor(np.array([pos_weight], np.float16))
        return lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, pos_weight=pw, reduction="none"
        )

    check(fn, [x, y], grad=(), rtol=0.0, atol=0.0)  # the value, bit for bit


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_gradients_take_the_upstream_before_the_weight_like_torch(dtype, reduction):
    # torch's backward multiplies the derivative by the upstream gradient, then by the weight:
    # -x w overflowed first at a logit near the float max, where torch's stays finite
    big = np.finfo(dtype).max * 0.95
    x = np.array([big, -big, 0.5, 1.0], dtype)
    y = np.array([0.5, 0.75, 1.0, 0.0], dtype)
    weight = np.array([-1.5, 2.5, 1.0, 0.5], dtype)
    pos_weight = np.array([-0.75, 0.5, 2.0, 1.0], dtype)
    upstream = np.array(-0.25, dtype)
    grads = []
    for lib in (torch, lossgrad):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        for pw in (None, lib.tensor(pos_weight)):

            def loss(lib=lib, xt=xt, yt=yt, pw=pw):
                return lib.nn.functional.binary_cross_entropy_with_logits(
                    xt, yt, lib.tensor(weight), pos_weight=pw, reduction=reduction
                )

            loss().backward(lib.tensor(upstream))  # the plain backward
            grads += [xt.grad.numpy().copy(), yt.grad.numpy().copy()]
            xt.grad = yt.grad = None
            with_graph = lib.autograd.grad(loss(), [xt, yt], lib.tensor(upstream), True)
            grads += [g.detach().numpy() for g in with_graph]
    theirs, ours = grads[: len(grads) // 2], grads[len(grads) // 2 :]
    with np.errstate(over="ignore"):
        assert np.isinf(x[:2] * weight[:2]).all()  # the weight first overflows ...
    assert all(np.isfinite(t).all() for t in theirs)  # ... where torch's order does not
    for t, o in zip(theirs, ours, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-6 if dtype == np.float32 else 1e-12)


# -- ctc_loss --------------------------------------------------------------------------------------


def _ctc(lib, log_probs, targets, input_lengths, target_lengths, create_graph, reduction="sum"):
    x = lib.tensor(log_probs, requires_grad=True)
    loss = lib.nn.functional.ctc_loss(
        x,
        lib.tensor(targets),
        lib.tensor(input_lengths),
        lib.tensor(target_lengths),
        reduction=reduction,
    )
    (grad,) = lib.autograd.grad(loss.sum(), [x], create_graph=create_graph)
    return loss.detach().numpy(), grad.detach().numpy()


def test_ctc_all_target_lengths_zero_with_create_graph():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 2, 4))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    args = (log_probs, np.zeros((2, 2), np.int64), np.array([5, 3]), np.zeros(2, np.int64))
    ours = _ctc(lossgrad, *args, create_graph=True)
    theirs = _ctc(torch, *args, create_graph=False)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("padding", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("create_graph", [False, True])
def test_ctc_padding_frames_are_never_read(padding, create_graph):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 2, 4))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    log_probs[3:, 1] = padding  # sequence 1 has 3 frames
    args = (log_probs, np.array([[1, 2], [3, 0]]), np.array([6, 3]), np.array([2, 1]))
    ours = _ctc(lossgrad, *args, create_graph=create_graph, reduction="none")
    theirs = _ctc(torch, *args, create_graph=False, reduction="none")
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_ctc_float32_log_probability_of_minus_1e30_is_finite_like_torch(reduction):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 2, 4))
    log_probs = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    log_probs[2, 0, 1] = -1e30  # one path through it among others
    log_probs[3, 1, :] = -1e30  # every path of sequence 1: its loss is 1e30, not inf
    args = (log_probs, np.array([[1, 2], [3, 1]]), np.array([5, 5]), np.array([2, 2]))
    ours = _ctc(lossgrad, *args, create_graph=False, reduction=reduction)
    theirs = _ctc(torch, *args, create_graph=False, reduction=reduction)
    assert ours[0].dtype == theirs[0].dtype == np.float32 and np.all(np.isfinite(theirs[0]))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    # sequence 0's gradient; sequence 1's drowns in the rounding of 1e30 in any log-space
    # lattice (torch's, in float64 too, and ours), so it is not compared
    np.testing.assert_allclose(ours[1][:, 0], theirs[1][:, 0], rtol=1e-5, atol=1e-6)


# -- norms of one-element vectors above sqrt(float max) ------------------------------------------


@pytest.mark.parametrize("name", ["pairwise_distance", "cosine_similarity", "triplet_margin_loss"])
def test_one_element_norms_do_not_overflow(name):
    a = np.array([[1e200], [3.0]])
    b = np.array([[0.0], [-1.0]])
    c = np.array([[-1e201], [2.0]])
    args = {"pairwise_distance": [a, b], "cosine_similarity": [a, 2 * a]}.get(name, [a, b, c])
    out = check(lambda lib, *t: getattr(lib.nn.functional, name)(*t), args, grad=(0,))
    assert np.all(np.isfinite(out.detach().numpy()))


@pytest.mark.parametrize("name", ["sign", "sgn"])
def test_sign_of_nan_is_zero_like_torch(name):
    check(lambda lib, a: getattr(lib, name)(a), [np.array([np.nan, -0.0, 2.0, -3.0])])


def test_triplet_p1_gradient_of_a_nan_anchor_is_zero_like_torch():
    # the loss is NaN, the clamp passes no gradient, and norm_backward's sgn(NaN) is 0
    anchor = np.array([[1.0, np.nan, -1.5, 4e4]])
    positive, negative = np.array([[-1.0, -2.2, 0.4, -1.7]]), np.array([[0.05, 1.1, 2.1, 0.8]])
    check(
        lambda lib, a, p, n: lib.nn.functional.triplet_margin_loss(a, p, n, p=1.0, swap=True),
        [anchor, positive, negative],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize("name", ["triplet_margin_loss", "pairwise_distance"])
def test_float16_norms_are_computed_in_float32_like_torch(name):
    # the square of 40,000 overflows float16; torch's Half norm does not
    a = np.array([3.455, 4e4], np.float16)
    p, n = np.array([0.5, 0.0], np.float16), np.array([0.0, -1.0], np.float16)
    args = [a, p, n] if name == "triplet_margin_loss" else [a, p]
    out = check(lambda lib, *t: getattr(lib.nn.functional, name)(*t), args, grad=())
    assert not np.isnan(out.detach().numpy()).any()


# -- margin, embedding and focal losses ------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_hinge_embedding_reduced_with_a_huge_input_and_a_zero_target(reduction):
    # torch adds the two branches per element before summing: (1 + 1e30) - 1e30 = 0, then 2
    x, t = np.array([-1e30, 2.0]), np.array([0.0, 1.0])
    out = check(
        lambda lib, a, b: lib.nn.functional.hinge_embedding_loss(a, b, reduction=reduction), [x, t]
    )
    assert out.item() > 0.5


def test_hinge_embedding_integer_input_with_a_bad_target_shape_is_a_runtime_error():
    _raises_like_torch("hinge_embedding_loss", np.ones(4, np.int64), np.ones((2, 3)))


def test_margin_ranking_with_a_float_argument_raises_torchs_class():
    _raises_like_torch("margin_ranking_loss", 0.5, np.ones(2), np.ones(2))


def test_triplet_with_a_float_argument_is_a_type_error():
    _raises_like_torch("triplet_margin_loss", 0.5, np.ones((2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("column", [0, 1])
def test_cosine_embedding_gradient_of_a_broadcast_column(column, reduction):
    # an (N, 1) input has its own squared norm x^2: its cosine is sign(x) cos(1, x2), gradient 0
    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal((3, 1)), rng.standard_normal((3, 4))
    y = np.array([1.0, -1.0, 1.0])
    check(
        lambda lib, a, b, c: lib.nn.functional.cosine_embedding_loss(
            a, b, c, margin=-0.5, reduction=reduction
        ),
        [x1, x2, y] if column == 0 else [x2, x1, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cosine_embedding_gradient_with_an_overflowing_norm_is_nan_where_torchs_is(dtype):
    # torch's chain multiplies the other input's norm gradient by an infinite squared norm
    x1 = np.array([[1e38, -5.7, 1.0], [1.0, 2.0, 3.0]], dtype) * (
        1e270 if dtype == np.float64 else 1
    )
    x2 = np.array([[-1.0, -1.9, -1e8], [0.5, -1.0, 2.0]], dtype)
    y = np.array([1.0, -1.0], dtype)
    check(
        lambda lib, a, b, c: lib.nn.functional.cosine_embedding_loss(a, b, c, margin=-0.2),
        [x1, x2, y],
        grad=(0, 1),
        second_order=False,
    )


@pytest.mark.parametrize("other", [np.float16, np.float64, np.int64])
def test_cosine_embedding_of_an_integer_input_has_torchs_dtype(other):
    # torch adds its float epsilon to the integer input's squared norm: default-float norm
    x1 = np.array([[2, 0, -1], [1, 3, 0]], np.int64)
    x2 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -1.0]]).astype(other)
    y = np.array([1.0, -1.0], np.float32)
    for a, b in ((x1, x2), (x2, x1)):
        out = check(
            lambda lib, u, v, w: lib.nn.functional.cosine_embedding_loss(u, v, w, margin=-0.5),
            [a, b, y],
            grad=(),
        )
        assert out.dtype == (lossgrad.float64 if other == np.float64 else lossgrad.float32)


@pytest.mark.parametrize(
    "inputs, targets",
    [
        (0.5, np.ones(2)),
        (None, np.ones(2)),
        ([0.5, 1.0], np.ones(2)),
        (np.ones(2), 0.5),
        (np.ones(2), None),
        (np.ones(2, np.int64), np.ones(2)),
        (np.ones(2), np.ones(2, np.int64)),
        (np.ones(2, np.int64), np.ones(2, np.int64)),
        (np.ones(2), np.ones(3)),
    ],
)
def test_sigmoid_focal_bad_arguments_raise_torchvisions_class(inputs, targets):
    from fuzz.harness import _torch_sigmoid_focal  # torchvision's formula in torch ops

    def convert(lib, a):
        return lib.tensor(a) if isinstance(a, np.ndarray) else a

    with pytest.raises(Exception) as theirs:
        _torch_sigmoid_focal(convert(torch, inputs), convert(torch, targets))
    with pytest.raises(Exception) as ours:
        LG.sigmoid_focal_loss(convert(lossgrad, inputs), convert(lossgrad, targets))
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)


@pytest.mark.parametrize("create_graph", [False, True])
def test_sigmoid_focal_gamma_zero_gradient_at_an_infinite_logit_is_finite_like_torch(create_graph):
    # gamma = 0: torchvision's (1 - p_t) ** 0 has gradient exactly 0 (torch's pow backward),
    # so the gradient is alpha_t (p - y), finite at x = -inf (soft targets)
    from fuzz.harness import _torch_sigmoid_focal

    x = np.array([-np.inf, -np.inf, 0.5], np.float32)
    y = np.array([0.4407, 1.0, 0.3315], np.float32)
    grads = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt = lib.tensor(x, requires_grad=True)
        loss = fn(xt, lib.tensor(y), gamma=0.0, reduction="sum")
        (g,) = lib.autograd.grad(loss, [xt], create_graph=create_graph)
        grads.append(g.detach().numpy())
    assert np.all(np.isfinite(grads[1]))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


def test_sigmoid_focal_second_derivative_at_a_huge_logit_is_finite_where_torchs_is():
    # fuzz seed 14006: at x = -1.7e308 the focal term of dl/dx is (upstream ce) times a slope
    # that underflows to 0; differentiated again, ours multiplied (direction * upstream ce),
    # which overflows, by that 0 (NaN), where torch's composite meets the small factors first
    from fuzz.harness import _torch_sigmoid_focal

    x, y = np.array([-1.7e308]), np.array([0.4026])
    upstream, direction = np.array([-2.55329184]), (np.array([1.35214183]), np.array([0.28995759]))
    results = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        loss = fn(xt, yt, alpha=-1.0, gamma=1.5)
        gx, gy = lib.autograd.grad(loss, [xt, yt], lib.tensor(upstream), create_graph=True)
        total = (gx * lib.tensor(direction[0])).sum() + (gy * lib.tensor(direction[1])).sum()
        results.append([g.detach().numpy() for g in lib.autograd.grad(total, [xt, yt])])
    (torch_x, torch_y), (ours_x, ours_y) = results
    assert np.isfinite(torch_x).all() and torch_y[0] == -np.inf
    np.testing.assert_allclose(ours_x, torch_x, rtol=1e-12)
    np.testing.assert_array_equal(ours_y, torch_y)


def test_sigmoid_focal_zero_dim_double_backward():
    x = lossgrad.tensor(0.3, requires_grad=True)
    loss = lossgrad.nn.functional.sigmoid_focal_loss(x, lossgrad.tensor(1.0))
    (g,) = lossgrad.autograd.grad(loss, [x], create_graph=True)
    (gg,) = lossgrad.autograd.grad(g, [x])
    xt = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
    p = torch.sigmoid(xt)
    ref = (
        TH.binary_cross_entropy_with_logits(xt, torch.tensor(1.0), reduction="none")
        * (1 - p) ** 2
        * 0.25
    )
    (gt,) = torch.autograd.grad(ref, [xt], create_graph=True)
    (ggt,) = torch.autograd.grad(gt, [xt])
    np.testing.assert_allclose(gg.item(), ggt.item(), rtol=1e-5)


def test_gaussian_nll_with_a_python_float_target_works_like_torch():
    x, var = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, 2.0])
    check(lambda lib, a, v: lib.nn.functional.gaussian_nll_loss(a, 0.5, v), [x, var], grad=(0, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_soft_margin_divides_by_the_input_classes_when_the_target_broadcasts(reduction):
    x = np.array([[0.5], [-1.0], [2.0]])
    y = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    check(
        lambda lib, a, b: lib.nn.functional.multilabel_soft_margin_loss(a, b, reduction=reduction),
        [x, y],
    )


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_multilabel_soft_margin_with_an_infinite_logit_is_inf_like_torch(reduction, weighted):
    x = np.array([[3.9, 0.0, -np.inf, 0.8]])
    y = np.array([[0.0, 0.0, 1.0, 0.0]])
    w = np.array([0.1, 1.0, 1.9, 1.7]) if weighted else None
    check(
        lambda lib, a, b: lib.nn.functional.multilabel_soft_margin_loss(
            a, b, weight=None if w is None else lib.tensor(w), reduction=reduction
        ),
        [x, y],
        grad=(),
    )


def test_multilabel_soft_margin_with_a_python_number_target_works_like_torch():
    check(
        lambda lib, a: lib.nn.functional.multilabel_soft_margin_loss(a, 0.5),
        [np.array([[0.3, -1.0]])],
    )


def test_bce_float64_gradient_at_zero_and_one_uses_torchs_float32_epsilon():
    x = np.array([0.0, 1.0, 0.3])
    y = np.array([0.5, 0.5, 0.2])
    check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b), [x, y], rtol=1e-13, atol=0.0
    )


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_bce_second_gradient_through_the_target_at_zero_and_one_is_infinite(dtype):
    # d/dy is -logit(x), one op in torch: its derivative 1 / (x (1 - x)) is +-inf at 0 and 1
    x = np.array([0.0, 1.0, 0.25, 1.0], dtype)
    y = np.array([0.8795, 0.7295, 0.5, 1.0], dtype)
    check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b),
        [x, y],
        grad=(0, 1),
        rtol=2e-3 if dtype == np.float16 else None,  # one float16 rounding in the first gradient
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_create_graph_gradient_scales_the_difference_by_2_over_n_first(dtype):
    # torch's kernel: (2 / n) (x - y) g, finite where 2 (x - y) alone overflows
    big = np.finfo(dtype).max * 0.9
    x = np.array([big, 0.5, -big, 1.0], dtype)
    y = np.array([-0.25, 0.0, 0.5, 2.0], dtype)
    check(lambda lib, a, b: lib.nn.functional.mse_loss(a, b), [x, y], grad=(0, 1))


@pytest.mark.parametrize(
    "dtype, x, y, var",
    [
        # (x - y) / var overflows, torch's ((g / 2) / var) (2 (x - y)) does not
        (np.float32, [3.27, 0.5], [-1e38, 0.0], [0.2177, 1.0]),
        (np.float64, [-0.98, 1.7e308], [-1.7e308, -1.6], [2.0257, 0.35]),
        # 2 (x - y) overflows: torch's gradient is infinite there
        (np.float64, [1.7e308, 0.5], [1.92, 0.0], [0.75, 1.0]),
    ],
)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gaussian_nll_gradient_overflows_where_torchs_composite_does(dtype, x, y, var, reduction):
    check(
        lambda lib, a, b, v: lib.nn.functional.gaussian_nll_loss(a, b, v, reduction=reduction),
        [np.array(x, dtype), np.array(y, dtype), np.array(var, dtype)],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize("upstream", [1.0, 0.75])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_nll_plain_backward_of_a_mean_scales_before_dividing_by_the_variance(
    dtype, upstream
):
    # the kept gradient (x - y) / v overflowed before the mean's 1 / n; torch's backward
    # divides the upstream gradient by n and by v first, and stays finite
    big = np.finfo(dtype).max * 0.3
    x = np.array([-big, 0.5, 1.5, -2.0, 0.25, 3.0, -1.0, 2.0], dtype)
    y = np.array([2.9, 0.0, 1.0, -1.5, 0.5, 2.0, 1.0, 0.0], dtype)
    var = np.array([0.25, 1.0, 2.0, 0.5, 1.5, 0.75, 1.0, 3.0], dtype)
    grads = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.gaussian_nll_loss(xt, lib.tensor(y), lib.tensor(var))
        loss.backward(lib.tensor(np.array(upstream, dtype)))
        grads.append(xt.grad.numpy())
    with np.errstate(over="ignore"):
        assert np.isinf((x - y) / var).any()  # the unscaled quotient overflows ...
    assert np.isfinite(grads[0]).all()  # ... where torch's gradient does not
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_smooth_l1_reduced_total_overflows_only_when_the_loss_does(reduction):
    x, y = np.array([1.7e308, 0.5]), np.array([0.0, 0.0])
    out = check(
        lambda lib, a, b: lib.nn.functional.smooth_l1_loss(a, b, beta=2.0, reduction=reduction),
        [x, y],
    )
    assert np.isfinite(out.item())


def test_gaussian_nll_with_a_none_target_is_a_type_error():
    _raises_like_torch("gaussian_nll_loss", np.ones(2), None, np.ones(2))


@pytest.mark.parametrize(
    "name", ["l1_loss", "mse_loss", "smooth_l1_loss"]
)  # torch's huber backward raises here
def test_a_0d_float64_target_promotes_a_float32_input_like_torch(name):
    def fn(lib, a, b):
        return getattr(lib.nn.functional, name)(a, b)

    out = check(fn, [np.array([1.0, 2.5], np.float32), np.array(0.5)], grad=(0, 1))  # warnings too
    assert out.dtype == lossgrad.float64


@pytest.mark.parametrize(
    "name", ["l1_loss", "huber_loss", "smooth_l1_loss"]
)  # NaN in torch's huber
def test_create_graph_slope_where_the_difference_is_nan(name):
    x = np.array([np.inf, 1.0, np.nan, -np.inf, 1e30, 3.0])
    y = np.array([np.inf, np.inf, 0.0, -np.inf, np.nan, 2.0])
    check(lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction="none"), [x, y])


# -- the kernels' dtype checks, as torch orders and skips them ------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5)])
def test_cross_entropy_uint8_spatial_targets_raise_runtime_error(shape):
    target_shape = shape[:1] + shape[2:]
    for name in ("cross_entropy", "nll_loss"):
        err = check_raises(
            lambda lib, x, t, name=name: getattr(lib.nn.functional, name)(x, t),
            [np.ones(shape, np.float32), np.zeros(target_shape, np.uint8)],
        )
        assert "Long" in str(err) and "Byte" in str(err)


def test_cross_entropy_uint8_targets_of_an_empty_spatial_batch_are_accepted():
    check(
        lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="sum"),
        [np.ones((2, 3, 0), np.float32), np.zeros((2, 0), np.uint8)],
        grad=(),
    )


@pytest.mark.parametrize("target_dtype", [np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_margin_losses_on_an_empty_float16_batch_do_not_raise(name, target_dtype):
    # torch never dispatches its kernel on an empty batch, so it skips the kernel's dtype checks
    target = np.zeros((0,) if name == "multi_margin_loss" else (0, 3), target_dtype)
    out = check(
        lambda lib, x, t: getattr(lib.nn.functional, name)(x, t, reduction="none"),
        [np.ones((0, 3), np.float16), target],
        second_order=False,  # torch's kernels have no double backward
    )
    assert out.shape == (0,)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_multilabel_margin_create_graph_gradient_of_an_empty_batch(reduction):
    def gradient(lib):
        x = lib.zeros(0, 3, requires_grad=True)
        target = lib.zeros(0, 3, dtype=lib.int64)
        out = lib.nn.functional.multilabel_margin_loss(x, target, reduction=reduction)
        (g,) = lib.autograd.grad(out, [x], lib.ones_like(out), create_graph=True)
        return g

    assert tuple(gradient(lossgrad).shape) == tuple(gradient(torch).shape) == (0, 3)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_create_graph_gradient_of_a_transposed_input(p):
    # the formula wrote the target slopes through a flat view, a copy for a transposed input
    x = np.array([[-1.6999, 0.6439, 3.5781], [1.7587, 0.7432, 2.9754], [1.4573, 4.1625, -2.6745]]).T

    def gradient(lib):
        a = lib.from_numpy(x).requires_grad_()
        out = lib.nn.functional.multi_margin_loss(a, lib.tensor([2, 0, 1]), p=p, reduction="sum")
        (g,) = lib.autograd.grad(out, [a], create_graph=True)
        return g.detach().numpy()

    np.testing.assert_allclose(gradient(lossgrad), gradient(torch), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize(
    "scores, target",
    [
        ([[0.2582, np.inf]], [1]),  # x[y] = inf: every margin is -inf
        ([[np.inf, -np.inf]], [0]),  # inf - inf at the target
        ([[1.0593, np.nan, 1.7801], [-4.1688, -0.0, -2.4398]], [0, 1]),  # a NaN margin
        ([[0.5, -1e8, np.inf], [1.0779, 0.0, 1.4e-45]], [0, 1]),  # an infinite active margin
        ([[0.2098, -1.7e308, 0.7232], [0.0, 1.8942, -1.4075]], [1, 1]),  # a sum that overflows
    ],
)
def test_multi_margin_p2_gradient_with_an_infinite_or_nan_score_is_torchs(
    scores, target, create_graph
):
    # the create_graph formula multiplied the inactive margins (inf - inf, NaN) by a 0 rate
    def gradient(lib):
        x = lib.tensor(np.array(scores)).requires_grad_()
        out = lib.nn.functional.multi_margin_loss(x, lib.tensor(target), p=2, reduction="mean")
        (g,) = lib.autograd.grad(out, [x], create_graph=create_graph)
        return g.detach().numpy()

    np.testing.assert_allclose(gradient(lossgrad), gradient(torch), rtol=1e-12, atol=0)


def _rows_with_ignored_targets(spatial):
    # rows whose softmax is NaN (+inf, NaN, all -inf) or a number (one -inf, all finite), each
    # once ignored and once not; spatial: the same rows as 70 positions of (N, C, P) class
    # planes (the layout the kernels take for many positions)
    rows = np.array(
        [
            [np.inf, 0.5, -1.0],
            [0.2, np.nan, 1.0],
            [-np.inf, -np.inf, -np.inf],
            [-np.inf, 0.7, 0.8],
            [0.3, -0.2, 1.5],
        ]
    )
    x = np.concatenate([rows, rows])
    target = np.array([-100] * 5 + [2, 0, 1, 2, 0])
    if spatial:
        x = np.tile(x.T[None, :, :], (2, 1, 7))  # (2, 3, 70)
        target = np.tile(target, (2, 7))
    return x, target


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("loss, kwargs", [("cross_entropy", {}), ("focal_loss", {"gamma": 0.5})])
def test_gradient_of_ignored_rows_is_nan_where_their_softmax_is(
    loss, kwargs, create_graph, spatial
):
    # torch's log_softmax backward gives an ignored row 0 - exp(log_softmax) * 0: NaN where the
    # softmax is NaN, else 0 (the plain backward zeroed the rows; focal's create_graph formula
    # gave NaN where the ignored row's ce is inf)
    x, target = _rows_with_ignored_targets(spatial)

    def gradient(lib):
        a = lib.tensor(x).requires_grad_()
        if lib is torch and loss == "focal_loss":  # the reference: the tutorial's formula
            ce = torch.nn.functional.cross_entropy(a, torch.tensor(target), reduction="none")
            out = (1 - torch.exp(-ce)) ** kwargs["gamma"] * ce
        else:
            out = getattr(lib.nn.functional, loss)(
                a, lib.tensor(target), reduction="none", **kwargs
            )
        upstream = lib.tensor(np.linspace(0.5, 1.5, out.numel()).reshape(tuple(out.shape)))
        (g,) = lib.autograd.grad(out, [a], upstream, create_graph=create_graph)
        return g.detach().numpy()

    np.testing.assert_allclose(gradient(lossgrad), gradient(torch), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize(
    "shape, target",
    [
        ((0, 2, 0), np.zeros((0, 2, 0), np.float32)),  # probabilities: torch returns
        ((2, 2, 0), np.zeros((2, 2, 0))),
        ((4, 0), np.zeros((0,), np.int64)),  # torch's batch-size ValueError comes first
        ((2, 2, 1, 0), np.zeros((0, 1, 2), np.int64)),
        ((0, 2, 0), np.zeros((0, 0), np.int64)),  # nll's dtype error
    ],
)
def test_cross_entropy_of_an_empty_integer_input_skips_log_softmaxs_dtype_check(
    shape, target, reduction
):
    # torch never dispatches log_softmax's kernel on an empty input, so its dtype check is skipped
    check(
        lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction=reduction),
        [np.zeros(shape, np.int64), target],
        grad=(),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_multilabel_soft_margin_rounds_each_op_like_torch(reduction):
    # the fused kernel's (1 - y) x - log sigmoid(x) cancels in float16 (0.03125 for 0.03044)
    check(
        lambda lib, x, y: lib.nn.functional.multilabel_soft_margin_loss(x, y, reduction=reduction),
        [np.array([[-3.477], [0.25]], np.float16), np.array([[0.0], [1.0]], np.float16)],
        rtol=1e-2,  # float16 roundings of the gradients; the old value was 2.6% off
        atol=0,
    )


@pytest.mark.parametrize("reduction", ["none"])  # torch's reduced value is uninitialized memory
@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64])
def test_multi_margin_weight_dtype_is_not_checked_on_an_empty_batch(weight_dtype, reduction):
    # torch skips its kernel's dtype checks on an empty batch, the weight's too
    check(
        lambda lib, x, t, w: lib.nn.functional.multi_margin_loss(
            x, t, weight=w, reduction=reduction
        ),
        [np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.ones(3, weight_dtype)],
        grad=(),
    )


@pytest.mark.parametrize("create_graph", [False, True])
def test_float16_distance_gradient_at_a_norm_of_about_eps_is_finite_like_torch(create_graph):
    # ||p - n + eps|| is about eps = 1e-6 (a float16 subnormal): g / norm overflowed float16
    def gradient(lib):
        anchor = lib.tensor(np.array([0.4917], np.float16)).requires_grad_()
        positive = lib.tensor(np.array([-0.0], np.float16)).requires_grad_()
        negative = lib.tensor(np.array([0.0], np.float16)).requires_grad_()
        out = lib.nn.functional.triplet_margin_with_distance_loss(
            anchor, positive, negative, margin=0.3, swap=True, reduction="sum"
        )
        grads = lib.autograd.grad(out, [anchor, positive, negative], create_graph=create_graph)
        return [g.detach().numpy().astype(np.float64) for g in grads]

    for ours, theirs in zip(gradient(lossgrad), gradient(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=4e-3, atol=0)


def test_multilabel_margin_sums_the_row_before_dividing_like_torch():
    # two hinges of 1.7e308: their sum overflows in torch's kernel before the division by C
    check(
        lambda lib, x, t: lib.nn.functional.multilabel_margin_loss(x, t, reduction="none"),
        [np.array([[-1e8, -1.7e308, 6e-8], [0.3, -0.2, 1.5]]), np.array([[1, -1, 1], [2, 0, -1]])],
        second_order=False,  # torch's kernel has no double backward
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_of_an_empty_integer_batch_returns_like_torch(reduction):
    # torch returns an int64 result (its reduced value is uninitialized memory: only the dtype
    # and shape are compared); the mean of nothing raised converting NaN to an integer
    def run(lib):
        x = lib.zeros((0, 5), dtype=lib.int64)
        return lib.nn.functional.multilabel_margin_loss(x, x, reduction=reduction)

    ours, theirs = run(lossgrad), run(torch)
    assert str(ours.dtype) == str(theirs.dtype) and tuple(ours.shape) == tuple(theirs.shape)


def _same_as_torch_or_finite(ours, theirs, rtol):
    """The fuzz harness's rule for sigmoid_focal_loss: torch's value wherever that is finite;
    where torch's is inf or NaN, ours is finite (log space) or the same inf or NaN."""
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=0)
    rest, theirs_rest = ours[~finite], theirs[~finite]
    same = (rest == theirs_rest) | (np.isnan(rest) & np.isnan(theirs_rest))
    assert np.all(np.isfinite(rest) | same), (rest, theirs_rest)


# (logits, targets, gammas, targets_grad: False runs the NumPy kernel, True the ops formula)
_FOCAL_EXTREMES = [
    # soft targets: a huge logit (ce * gamma overflowed before meeting the 0 factor), an
    # infinite one (d/dy: -inf where torch's two terms give NaN), p_t = 1 (d/dy: inf - inf)
    (["-big", "big", "big", "inf", "-inf", 1000.0], [0.9, 0.3, 0.5, 0.5, 0.2, 1.0], (2.0, 1.5)),
    # binary targets, finite logits: relu(z) = (z + |x|) / 2 overflowed
    (["-big", "big", 1000.0, -1000.0, 0.5], [1.0, 0.0, 1.0, 0.0, 1.0], (2.0, 1.5, 0.0)),
    # binary targets and an infinite logit: torch's (1 - y) x is NaN
    (["-inf", "inf", "-inf", 0.5], [1.0, 1.0, 0.0, 0.0], (0.0,)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize(
    "logits, targets, gamma, targets_grad",
    [
        (logits, targets, gamma, targets_grad)
        for logits, targets, gammas in _FOCAL_EXTREMES
        for gamma in gammas
        for targets_grad in (False, True)
    ]
    + [(*_FOCAL_EXTREMES[0][:2], 0.0, True)],  # gamma 0: only d/dy was wrong
)
def test_sigmoid_focal_at_huge_and_infinite_logits_is_torchvisions(
    logits, targets, gamma, dtype, targets_grad
):
    from fuzz.harness import _torch_sigmoid_focal

    big = float(np.finfo(dtype).max) * 0.95
    named = {"big": big, "-big": -big, "inf": np.inf, "-inf": -np.inf}
    x = np.array([named.get(v, v) for v in logits], dtype)
    y = np.array(targets, dtype)
    results = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=targets_grad)
        loss = fn(xt, yt, alpha=0.25, gamma=gamma, reduction="none")
        loss.backward(lib.ones_like(loss))
        grads = [xt.grad] + ([yt.grad] if targets_grad else [])
        results.append([t.detach().numpy().astype(np.float64) for t in [loss, *grads]])
    rtol = {np.float64: 1e-10, np.float32: 2e-5, np.float16: 4e-3}[dtype]
    for theirs, ours in zip(*results, strict=True):
        _same_as_torch_or_finite(ours, theirs, rtol)


@pytest.mark.parametrize("alpha", [-1.0, 0.5])
def test_sigmoid_focal_mean_gradient_at_a_huge_logit_scales_first_like_torch(alpha):
    # torch's backward divides the upstream gradient by n before meeting ce ~ 1.7e308; scaling
    # the finished derivative overflowed to inf first
    from fuzz.harness import _torch_sigmoid_focal

    x = np.array([-1.7e308, 0.5, -1.2, 2.0])
    y = np.array([1.0, 0.0, 0.3, 1.0])
    grads = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        loss = fn(xt, yt, alpha=alpha, gamma=1.5, reduction="mean")
        grads.append([g.numpy() for g in lib.autograd.grad(loss, [xt, yt])])
    for theirs, ours in zip(*grads, strict=True):
        assert np.all(np.isfinite(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_sigmoid_focal_second_gradient_where_p_t_rounds_to_1_is_torchs(alpha, dtype):
    # d2l/dxdy went through d log(1 - p_t)/dy, infinite where 1 - p_t underflows, times the
    # modulation's 0 (NaN); torch's power rule gives 0 there
    from fuzz.harness import _torch_sigmoid_focal

    x = np.array([1000.0, -1000.0, 1e8, 0.5], dtype)
    y = np.array([1.0, 0.0, 1.0, 0.3], dtype)
    results = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        (g,) = lib.autograd.grad(fn(xt, yt, alpha=alpha, reduction="sum"), [xt], create_graph=True)
        results.append([t.numpy() for t in lib.autograd.grad(g.sum(), [xt, yt])])
    for theirs, ours in zip(*results, strict=True):
        assert np.all(np.isfinite(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=0)


@pytest.mark.parametrize("log_target", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "none"])
def test_kl_div_target_gradient_overflows_where_torchs_composite_does(log_target, reduction):
    # torch multiplies the upstream gradient in first: (g (t - x)) exp(t) is finite where
    # exp(t) (t - x + 1) g overflowed; without log_target (g t) / t overflows where t / t is 1
    x = np.array([[-1.7e308, 0.5], [-1.2, 1e308]])
    y = np.array([[0.5, 1.7e308], [0.3, 1.5]]) if not log_target else np.array([[0.5, 1.0]] * 2)
    fn = lambda lib, a, b: lib.nn.functional.kl_div(  # noqa: E731
        a, b, reduction=reduction, log_target=log_target
    )
    check(fn, [x, y], grad=(0, 1))
    for upstream in (0.25, 4.0):
        grads = []
        for lib in (torch, lossgrad):
            a, b = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
            out = fn(lib, a, b)
            out.backward(lib.full_like(out, upstream))
            grads.append((a.grad.numpy(), b.grad.numpy()))
        for theirs, ours in zip(*grads, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("log_input", [False, True])
def test_float16_poisson_nll_second_gradient_divides_in_torchs_order(log_input):
    # torch's chain divides (-g y) by x + eps: y / (x + eps)^2 alone overflows float16 at
    # x = 0.005 though the second gradient, scaled by g = 1/16 first, is finite
    x = np.array([0.00508880615234375, 1.54296875, 0.5771484375, 1.7001953125] * 4, np.float16)
    y = np.array([4.0], np.float16)
    check(
        lambda lib, a, b: lib.nn.functional.poisson_nll_loss(a, b, log_input=log_input),
        [x, y],
        grad=(0, 1),
        rtol=4e-3,
    )


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_of_an_integer_input_rounds_exp_and_log_like_torch(log_input):
    # an integer input's exp(x) and log(x + 1e-8) are float32, the float64 target's loss shows
    # their last bit: lossgrad's are correctly rounded (NumPy's float32 exp(2) and log(7 + 1e-8)
    # are an ulp off); torch's are too with its AVX2 kernels, within an ulp with its AVX-512 ones
    x = np.array([2, -3, 4, 1, 3, 7, 37, 47])
    y = np.array([1.0, 2.0, 0.5, 4.0, 3.0, 1.0, 2.0, 0.25])
    check(
        lambda lib, a, b: lib.nn.functional.poisson_nll_loss(a, b, log_input=log_input),
        [x, y],
        grad=(1,),
        rtol=2e-7,
        atol=0,
    )
    out = LG.poisson_nll_loss(
        lossgrad.tensor(x), lossgrad.tensor(y), log_input=log_input, reduction="none"
    )
    with np.errstate(invalid="ignore"):
        if log_input:
            term = np.exp(x.astype(np.float64)).astype(np.float32) - y * x
        else:
            shifted = (x + np.float32(1e-8)).astype(np.float32).astype(np.float64)
            term = x - y * np.log(shifted).astype(np.float32)
    np.testing.assert_array_equal(out.numpy(), term)


@pytest.mark.parametrize("p", [3.0, 1.5, 0.5, -1.0])
@pytest.mark.parametrize("name", ["pairwise_distance", "triplet_margin_loss"])
def test_one_element_p_norms_are_the_absolute_value_like_torch(name, p):
    # torch's norm over a one-element dimension is |x| for every p but 0: (|x|^p)^(1/p)
    # overflowed at |x|^p (1e30 ** 3 in float32) and rounded elsewhere
    a = np.array([[1e30], [0.6], [-2.0]], np.float32)
    b = np.array([[0.0], [-0.7], [0.1]], np.float32)
    c = np.array([[-1e30], [2.0], [0.3]], np.float32)
    args = [a, b] if name == "pairwise_distance" else [a, b, c]
    check(lambda lib, *t: getattr(lib.nn.functional, name)(*t, p=p), args, grad=(0, 1))


@pytest.mark.parametrize(
    "x1, x2, target, margin",
    [
        # the float16 dot's gradient gc / denom overflows float16 and meets x1 = 0: NaN in torch
        ([0], [-2.60546875, 1.810546875, 0.892578125], 1.0, 0.5),
        ([[0, 0], [1, 2]], [[-0.0104, -1.247], [0.5, 3.0]], [1.0, -1.0], -0.2),
    ],
)
def test_cosine_embedding_of_an_integer_and_a_float16_input_is_torchs_composite(
    x1, x2, target, margin
):
    check(
        lambda lib, a, b, t: lib.nn.functional.cosine_embedding_loss(a, b, t, margin=margin),
        [np.array(x1), np.array(x2, np.float16), np.array(target, np.float16)],
        grad=(1,),
        rtol=4e-3,
    )


def test_float16_cosine_embedding_second_gradient_is_torchs_composite():
    # torch runs its composite op by op in float16: a second-order term overflows to inf,
    # which lossgrad's fused float16 chain turned into NaN
    rng = np.random.default_rng(1)
    upstream = rng.standard_normal(()).astype(np.float16)
    directions = [rng.standard_normal((1, 1)).astype(np.float16) for _ in range(2)]
    results = []
    for lib in (torch, lossgrad):
        x1 = lib.tensor([[0.002460479736328125]], dtype=lib.float16, requires_grad=True)
        x2 = lib.tensor([[-1.9833984375]], dtype=lib.float16, requires_grad=True)
        target = lib.tensor([1.0], dtype=lib.float16)
        loss = lib.nn.functional.cosine_embedding_loss(x1, x2, target, margin=0.5, reduction="sum")
        grads = lib.autograd.grad(loss, [x1, x2], lib.tensor(upstream), create_graph=True)
        total = sum((g * lib.tensor(d)).sum() for g, d in zip(grads, directions, strict=True))
        results.append([g.numpy().astype(np.float64) for g in lib.autograd.grad(total, [x1, x2])])
    for theirs, ours in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=3e-2)


def test_sigmoid_focal_second_gradient_in_the_target_takes_alpha_t_in_two_terms_like_torch():
    # at gamma = 0 and a logit near the float max, torch's second derivative in y adds
    # -x alpha and x (1 - alpha) separately (inf - inf: NaN); one term x (1 - 2 alpha) gave inf
    from fuzz.harness import _torch_sigmoid_focal

    x = np.array([1.7e308, 0.5, -1.2, 2.0])
    y = np.array([0.0, 1.0, 0.3, 0.8])
    upstream, direction = np.array(3.0), np.array([4.0, -0.5, 1.5, 2.0])
    results = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        loss = fn(xt, yt, alpha=0.25, gamma=0.0, reduction="sum")
        gx, gy = lib.autograd.grad(loss, [xt, yt], lib.tensor(upstream), create_graph=True)
        total = (gx * lib.tensor(direction)).sum() + (gy * lib.tensor(direction)).sum()
        results.append([g.numpy() for g in lib.autograd.grad(total, [xt, yt])])
    assert np.isnan(results[0][1][0])  # torch's inf - inf
    for theirs, ours in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("shape", [(1, 2, 1, 1), (2, 3, 4), (2, 3, 200)])
def test_float16_focal_and_cross_entropy_over_spatial_rows_add_in_float32_like_torch(shape, gamma):
    # torch's Half log-softmax over a dimension that is not the last adds the exponentials in
    # float32 and rounds once; lossgrad rounded the sums to float16 (0.00148 against torch's
    # 0.001375 for the first case, found by the fuzzer). (2, 3, 200) takes the class planes.
    from fuzz.harness import _torch_focal

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3).astype(np.float16)
    if shape == (1, 2, 1, 1):
        x = np.array([[[[1.328]], [[-4.984]]]], np.float16)
    target = rng.integers(0, shape[1], shape[:1] + shape[2:])
    weight = rng.uniform(0.5, 1.0, shape[1]).astype(np.float16)

    def focal(lib, x, target, weight):
        loss = _torch_focal if lib is torch else lib.nn.functional.focal_loss
        return loss(x, target, weight=weight, reduction="sum", gamma=gamma)

    check(focal, [x, target, weight], rtol=4e-3, atol=1e-5, second_order=False)
    if x.size < 100:  # torch's double backward runs in float16 ops: a few roundings apart,
        check(focal, [x, target, weight], rtol=3e-2, atol=3e-4)  # more among many elements


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div_target_gradient_over_an_empty_broadcast_is_torchs_composite(reduction):
    # torch's xlogy(y, y) takes the target's own shape: its gradient is the (empty) sum over
    # the broadcast times xlogy's derivative, NaN at y = -inf (0 * -inf / -inf); lossgrad
    # summed the broadcast gradient and gave 0
    target = np.array([2.0, -2.023, -np.inf, -np.inf], np.float16)
    grads = []
    for lib in (torch, lossgrad):
        x = lib.zeros((4, 0, 0, 4), dtype=lib.float16, requires_grad=True)
        y = lib.tensor(target, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's 'mean' warning
            loss = lib.nn.functional.kl_div(x, y, reduction=reduction)
        loss.sum().backward()
        grads.append(y.grad.numpy())
    assert np.isnan(grads[0][2:]).all()  # torch's NaN at the -inf targets
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize("upstream", [0.0, 2.0, -1.0])
def test_xlogy_gradient_in_x_is_xlogy_of_the_upstream_like_torch(upstream):
    # torch's derivative is xlogy(g, y), 0 where x == 0 and y <= 0: 0 for a zero upstream at
    # y < 0, and log(y) at x == 0 < y; lossgrad's g * xlogy(x != 0, y) gave NaN and 0 there
    values = [0.0, 1.0, -1.0, 2.0, np.nan, np.inf, -np.inf]
    x, y = (np.array(v, np.float64) for v in zip(*itertools.product(values, values)))
    grads = []
    for lib in (torch, lossgrad):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        lib.xlogy(xt, yt).backward(lib.full(x.shape, upstream, dtype=lib.float64))
        grads.append((xt.grad.numpy(), yt.grad.numpy()))
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "logit, dtype, alpha, upstream, direction",
    [(1e38, np.float32, 0.25, -1.06, -0.82), (1.7e308, np.float64, -1.0, 0.0048, 2.55)],
)
def test_sigmoid_focal_second_gradient_in_the_target_at_a_huge_logit_is_nan_like_torch(
    logit, dtype, alpha, upstream, direction
):
    # y = 0, gamma = 2: the target's gradient has the term -x * dl/dce, whose derivative
    # in dl/dce overflows; torch's product rule through p y + (1 - p)(1 - y) multiplies that
    # infinity by 1 - p = 0 (NaN), lossgrad's d log(1 - p_t)/dy, one expression, gave inf
    from fuzz.harness import _torch_sigmoid_focal

    seconds = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt = lib.tensor(np.array([logit], dtype), requires_grad=True)
        yt = lib.tensor(np.array([0.0], dtype), requires_grad=True)
        loss = fn(xt, yt, alpha=alpha, gamma=2.0)
        _, gy = lib.autograd.grad(
            loss, [xt, yt], lib.tensor(np.array([upstream], dtype)), create_graph=True
        )
        seconds.append([g.numpy() for g in lib.autograd.grad((gy * direction).sum(), [xt, yt])])
    assert np.isnan(seconds[0][1]).all()  # torch's NaN
    for ours, theirs in zip(seconds[1], seconds[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "x1, x2, dtype", [(-0.9074, -0.2784, np.float64), (-1.6057, 0.4857, np.float32)]
)
def test_cosine_embedding_second_gradient_of_one_feature_adds_terms_in_torchs_order(x1, x2, dtype):
    # D = 1: the cosine is sign(x1 x2) up to torch's 1e-12 epsilon and its derivatives are
    # rounding noise of terms of size 1 / x^2; added in torch's order they are torch's, bit
    # for bit in float64 (the other order was 7e-5 relative off in float64, 4x in float32)
    seconds = []
    for lib in (torch, lossgrad):
        a = lib.tensor(np.array([x1], dtype), requires_grad=True)
        b = lib.tensor(np.array([x2], dtype), requires_grad=True)
        target = lib.tensor(np.array(-1.0 if dtype == np.float64 else 1.0, dtype))
        loss = lib.nn.functional.cosine_embedding_loss(a, b, target, reduction="none")
        ga, gb = lib.autograd.grad(loss, [a, b], create_graph=True)
        total = (ga * lib.tensor(np.array([0.7], dtype))).sum() + (gb * -1.3).sum()
        seconds.append([g.numpy() for g in lib.autograd.grad(total, [a, b])])
    for ours, theirs in zip(seconds[1], seconds[0], strict=True):
        if dtype == np.float64:
            np.testing.assert_array_equal(ours, theirs)
        else:  # torch's float32 noise differs between its AVX2 and AVX-512 kernels
            noise = 16 * np.finfo(dtype).eps * max(1 / x1**2, 1 / x2**2)
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=noise)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_poisson_nll_input_broadcast_against_the_target_sums_the_upstream_first_like_torch(
    log_input, dtype
):
    # torch's composite sums the upstream over the broadcast before each term's derivative:
    # exp(inf) * (sum of g) = inf, where lossgrad's fused sum of g_k (exp(x) - y_k) was
    # inf - inf = NaN
    x = np.array([[[np.inf]], [[1.5]]], dtype)
    y = np.array([[[2.0, 1.0, 4.0]]], dtype)
    upstream = np.array([[[1.053, 1.776, -2.553]], [[0.5, -0.25, 1.0]]], dtype)
    grads = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.poisson_nll_loss(xt, lib.tensor(y), log_input, reduction="none")
        loss.backward(lib.tensor(upstream))
        grads.append(xt.grad.numpy())
    assert np.isposinf(grads[0][0, 0, 0]) == log_input
    np.testing.assert_array_equal(grads[1], grads[0])


def test_multi_margin_unreduced_create_graph_gradient_sums_the_slopes_before_the_upstream():
    # torch's kernel sums a row's slopes 2 z / C, then scales by the row's upstream: two
    # slopes of 1.13e308 overflow to inf at the target; lossgrad's create_graph formula scaled
    # each by the upstream first (-0.17) and gave a finite 3.96e307
    scores = np.array([[0.25, 0.21, 2.6], [-0.26, -1.7e308, 1.89], [0.0, 0.72, -1.41]])
    upstream = np.array([-0.65, -0.17, 1.66])
    grads = []
    for lib in (torch, lossgrad):
        x = lib.tensor(scores, requires_grad=True)
        loss = lib.nn.functional.multi_margin_loss(x, lib.tensor([2, 1, 1]), p=2, reduction="none")
        (gradient,) = lib.autograd.grad(loss, x, lib.tensor(upstream), create_graph=True)
        grads.append(gradient.detach().numpy())
    assert np.isposinf(grads[0][1, 1])
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize(
    "scores, target, weight, dtype",
    [
        (
            [[0.38, -1e38, -0.83, -4.9, 3.6], [2.3, -0.65, 1.5, 4e4, -1e38]],
            [4, 4],
            None,
            np.float32,
        ),
        (
            [[-1.3, -0.35, 3.3], [1.3, -3.3, -0.01], [-1.7e308, 0.3, -3.2]],
            [1, 0, 0],
            [1.05, 1.04, 1.05],
            np.float64,
        ),
    ],
)
def test_multi_margin_value_sums_weighted_terms_before_dividing_by_the_classes(
    scores, target, weight, dtype
):
    # torch's kernel adds each row's hinge terms (times w[y]) and then divides by C: four
    # terms of 1e38 overflow to inf in float32; lossgrad summed them already divided by C
    values = []
    for lib in (torch, lossgrad):
        kwargs = {} if weight is None else {"weight": lib.tensor(np.array(weight, dtype))}
        loss = lib.nn.functional.multi_margin_loss(
            lib.tensor(np.array(scores, dtype)),
            lib.tensor(target),
            margin=0.5,
            reduction="sum",
            **kwargs,
        )
        values.append(loss.numpy())
    assert np.isposinf(values[0])
    np.testing.assert_array_equal(values[1], values[0])


def test_kl_div_log_target_broadcast_target_gradient_is_torchs_composite():
    # torch's exp(y) (y - x) takes the (3, 1) target's own exp(y): its gradient is exp(y) = inf
    # times the sum of g (y - x_k) over the broadcast, inf; lossgrad's fused gradient
    # exp(y) (y - x_k + 1) per element gave inf * 0 = NaN at x_k = y
    x = np.array([[0.0, -0.41, -0.31], [-2.6, -1.7e308, 5.9], [2.2, 1.7e308, -1.8]])
    y = np.array([[-1e38], [-1.1], [1.7e308]])
    grads = []
    for lib in (torch, lossgrad):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        lib.nn.functional.kl_div(xt, yt, reduction="mean", log_target=True).backward()
        grads.append((xt.grad.numpy(), yt.grad.numpy()))
    assert np.isposinf(grads[0][1][2, 0])
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_triplet_gradient_at_a_subnormal_distance_is_torchs_quotient_first():
    # torch's norm backward for p = 2 is g * (u / ||u||): finite at a subnormal distance (seed
    # 11017: |1e-45 - 1e-40| with swap); lossgrad's g / ||u|| first overflowed to inf in float32
    grads = []
    for lib in (torch, lossgrad):
        a, p, n = (
            lib.tensor(np.array([v], np.float32), requires_grad=True)
            for v in (-1.0390503, 1e-45, 1e-40)
        )
        loss = lib.nn.functional.triplet_margin_loss(a, p, n, swap=True, eps=0.0)
        loss.backward(lib.tensor(np.float32(0.3455842)))
        grads.append([t.grad.numpy() for t in (a, p, n)])
    assert np.all(np.isfinite(grads[0]))
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_pairwise_distance_gradient_at_a_subnormal_distance_is_torchs_quotient_first():
    x1 = np.array([[1e-45], [1.0]], np.float32)
    x2 = np.array([[1e-40], [0.0]], np.float32)
    grads = []
    for lib in (torch, lossgrad):
        a, b = lib.tensor(x1, requires_grad=True), lib.tensor(x2, requires_grad=True)
        lib.nn.functional.pairwise_distance(a, b, eps=0.0).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    assert np.all(np.isfinite(grads[0]))
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gaussian_nll_gradient_of_an_overflowing_loss_is_torchs_composite(reduction):
    # torch's composite 0.5 * (log(var) + (x - y) ** 2 / var) gives x the gradient
    # (g / 2 / var) * (2 (x - y)), the upstream g in first: infinite where 2 (x - y) overflows
    # (2e38 in float32), where lossgrad's kept (x - y) / var times g stayed finite, and finite
    # at x = 1e38, var = 0.2365 with g = 0.3456 (seed 11030), where (x - y) / var overflowed
    # before the upstream scaled it down; and the loss is infinite where (x - y) ** 2 is, though
    # (x - y) ** 2 / var would not be
    x = np.array([[1e38, 1e38, -3.0], [2.0, 1e20, 0.5]], np.float32)
    y = np.array([[-1e38, -0.992052, 4.0], [1.5, 0.0, 2.0]], np.float32)
    var = np.array([[0.23653811], [1e30]], np.float32)
    results = []
    for lib in (torch, lossgrad):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        loss = lib.nn.functional.gaussian_nll_loss(
            xt, yt, lib.tensor(var), eps=0.01, reduction=reduction
        )
        loss.backward(lib.tensor(np.float32(0.34558418)))
        results.append((loss.detach().numpy(), xt.grad.numpy(), yt.grad.numpy()))
    assert np.isposinf(results[0][0]) and np.isposinf(results[0][1][0, 0])
    assert np.isfinite(results[0][1][0, 1])
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "dtype, x, y, var",
    [
        (np.float32, [3.27, 0.5], [-1e38, 0.0], [0.2177, 1.0]),
        (np.float64, [-0.98, 1.0], [-8e307, -0.5], [0.25, 0.35]),
    ],
)
def test_gaussian_nll_unreduced_gradient_scales_before_dividing_by_the_variance(dtype, x, y, var):
    # reduction='none' with an upstream below 1: the kept (x - y) / var overflowed, torch's
    # ((g / 2) / var) (2 (x - y)) does not (seed 17028 of a 100,000-case run)
    upstream = np.array([0.1, 0.75], dtype)
    grads = []
    for lib in (torch, lossgrad):
        a, b = lib.tensor(np.array(x, dtype), requires_grad=True), lib.tensor(np.array(y, dtype))
        loss = lib.nn.functional.gaussian_nll_loss(
            a, b, lib.tensor(np.array(var, dtype)), reduction="none"
        )
        loss.backward(lib.tensor(upstream))
        grads.append(a.grad.numpy())
    assert np.isfinite(grads[0]).all()
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


def test_gaussian_nll_second_derivative_of_a_broadcast_var_in_float16_is_torchs():
    # var (N,) against input (N, 4): torch sums the log term's gradient over the 4 elements
    # before dividing by var; summing four quotients that overflow float16 gave inf - inf = NaN
    # in the second derivative w.r.t. var where torch's is -inf (seed 33 of a fuzz run)
    x = np.array([[-1.659, -0.4976, -3.377, -3.818], [0.5, 1.25, -0.75, 2.0]], np.float16)
    y = np.array([[-0.2034, -0.09106, -1.071, -0.2078], [0.0, 1.0, 0.25, 1.5]], np.float16)
    var = np.array([0.01718, 0.5], np.float16)
    upstream = np.array([[-0.0486, 1.456, -1.382, -0.2112], [1.544, 0.9272, 0.7104, 0.2434]])
    directions = [
        np.array([[-1.347, 0.2028, -0.872, 0.2157], [-0.6807, -1.095, 0.0839, 1.16]]),
        np.array([[-0.4104, 0.2769, 0.814, 0.6064], [-1.189, -0.4749, 0.4456, 0.1105]]),
        np.array([1.857, 0.6797]),
    ]
    results = []
    for lib in (torch, lossgrad):
        leaves = [lib.tensor(a, requires_grad=True) for a in (x, y, var)]
        loss = lib.nn.functional.gaussian_nll_loss(*leaves, eps=0.01, reduction="none")
        grads = lib.autograd.grad(
            loss, leaves, lib.tensor(upstream.astype(np.float16)), create_graph=True
        )
        total = sum((g * lib.tensor(d.astype(np.float16))).sum() for g, d in zip(grads, directions))
        results.append([g.float().numpy() for g in lib.autograd.grad(total, leaves)])
    assert np.isneginf(results[0][2][0])
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multilabel_soft_margin_does_not_cancel_for_large_negative_logits(reduction):
    # torch's -(y log sigmoid(x) + (1 - y) log sigmoid(-x)): y * 1000 + tiny at x = -1000;
    # binary_cross_entropy_with_logits's (1 - y) x + softplus(-x) = -999.9 + 1000 lost 5e-6 of
    # 1.756 in float32 (a 100,000-case fuzz run)
    x = np.array([[-1000.0, 3000.0, -20.0, 0.5], [-300.0, 2.0, -1.5, 40.0]], np.float32)
    y = np.array([[1e-4, 0.9999, 0.3, 0.7], [0.002, 1.0, 0.0, 0.999]], np.float32)
    out = check(
        lambda lib, a, b: lib.nn.functional.multilabel_soft_margin_loss(a, b, reduction=reduction),
        [x, y],
        grad=(0, 1),
        rtol=2e-7,
    )
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    exact = y64 * np.maximum(-x64, 0) + (1 - y64) * np.maximum(x64, 0)
    exact = (exact + np.log1p(np.exp(-np.abs(x64)))).mean(axis=1)
    expected = {"none": exact, "mean": exact.mean(), "sum": exact.sum()}[reduction]
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=2e-7)


def test_sigmoid_focal_second_gradient_at_the_largest_logit_is_torchs_zero():
    # x = 1.7e308, soft target, gamma = 2, the target without a gradient: the loss is linear
    # in x there, torch's second derivative 0; the upstream of ce (1e308) times gamma before
    # (1 - p_t)**gamma overflowed and met d log(1 - p_t)/dx = 0 as NaN (seed 16062)
    from fuzz.harness import _torch_sigmoid_focal

    seconds = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        x = lib.tensor(np.array([1.7e308, 0.5]), requires_grad=True)
        y = lib.tensor(np.array([0.40913866260154164, 0.3]))
        loss = fn(x, y, alpha=0.5, gamma=2.0, reduction="none")
        (gx,) = lib.autograd.grad(loss, [x], lib.tensor(np.array([1.33, 1.1])), create_graph=True)
        seconds.append(lib.autograd.grad((gx * 1.376).sum(), [x])[0].numpy())
    assert seconds[0][0] == 0.0
    np.testing.assert_allclose(seconds[1], seconds[0], rtol=1e-12)


def test_cosine_embedding_of_an_empty_batch_against_an_infinite_broadcast_input_is_torchs():
    # x1 (0, 4) against x2 (1, 1) = inf: torch's norm of the unbroadcast x2 is inf, its
    # gradient 0 (an empty sum) times 2 x2 = NaN; the fused kernel gave 0 (seed 20065)
    x1 = np.zeros((0, 4), np.float32)
    x2 = np.array([[np.inf]], np.float32)
    grads = []
    for lib in (torch, lossgrad):
        a, b = lib.tensor(x1, requires_grad=True), lib.tensor(x2, requires_grad=True)
        loss = lib.nn.functional.cosine_embedding_loss(
            a, b, lib.tensor(np.zeros(0, np.float32)), reduction="none"
        )
        loss.backward(lib.tensor(np.zeros(0, np.float32)))
        grads.append((a.grad.numpy(), b.grad.numpy()))
    assert np.isnan(grads[0][1]).all()
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


def _half_planes_logits():
    # float16 (2, 5, 1, 1): sample 0 has a logit of 4e4, so its other log-probabilities are
    # about -4e4 each and their sum, -1.6e5, is beyond the float16 range
    x = np.array(
        [[-1.486, 0.7534, 0.9229, 4e4, -0.7549], [-0.6953, -0.2786, -5.074, 1.558, 0.2092]],
        np.float16,
    )
    return x.reshape(2, 5, 1, 1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_float16_label_smoothing_over_class_planes_sums_each_row_in_float16_like_torch(
    reduction, weighted, ignore_index
):
    # torch's label smoothing is Half ops: -log_softmax(x).sum(class axis) rounds each row's
    # sum to float16 (-1.6e5: -inf), so the loss is inf; lossgrad's fused float32 rows gave
    # 19600 ('mean')
    x = _half_planes_logits()
    target = np.array([1, 3]).reshape(2, 1, 1)
    weight = np.array([0.5, 2.0, 1.0, 1.5, 0.25], np.float16)
    values = []
    for lib in (torch, lossgrad):
        kwargs = {"weight": lib.tensor(weight)} if weighted else {}
        loss = lib.nn.functional.cross_entropy(
            lib.tensor(x),
            lib.tensor(target),
            reduction=reduction,
            label_smoothing=0.1,
            ignore_index=ignore_index,
            **kwargs,
        )
        values.append(loss.numpy())
    assert np.isposinf(values[0]).any()
    np.testing.assert_allclose(values[1], values[0], rtol=2e-3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_label_smoothing_over_class_planes_gradients_like_torch(reduction):
    # the row of 4e4 and a row with a +inf logit (NaN throughout in torch's log_softmax, so
    # NaN gradients there): first-order and create_graph gradients, and the second derivative
    x = np.concatenate([_half_planes_logits(), _half_planes_logits()], axis=2)
    x[1, 2, 1, 0] = np.inf
    target = np.array([1, 3, 0, 4]).reshape(2, 2, 1)
    results = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(
            xt, lib.tensor(target), reduction=reduction, label_smoothing=0.25
        )
        upstream = lib.tensor(np.full(loss.shape, 0.75, np.float16))
        (first,) = lib.autograd.grad(loss, [xt], upstream, retain_graph=True)
        (graphed,) = lib.autograd.grad(loss, [xt], upstream, create_graph=True)
        (second,) = lib.autograd.grad((graphed * graphed).sum(), [xt])
        results.append([t.detach().numpy().astype(np.float64) for t in (first, graphed, second)])
    assert np.isnan(results[0][0][1, :, 1, 0]).all()
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-2, atol=2e-3)


def test_log_softmax_of_a_row_with_a_positive_infinity_is_nan_like_torch():
    # torch shifts by the row's maximum, +inf: inf - inf is NaN and so is the row's log-sum-exp
    x = np.array([[np.inf, 1.0, 2.0], [0.0, 1.0, -np.inf]])
    outs = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        out = lib.nn.functional.log_softmax(xt, 1)
        out.backward(lib.tensor(np.ones_like(x)))
        outs.append((out.detach().numpy(), xt.grad.numpy()))
    assert np.isnan(outs[0][0][0]).all()
    for ours, theirs in zip(outs[1], outs[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_kl_div_broadcast_target_second_gradient_at_a_subnormal_target_is_torchs(dtype, reduction):
    # torch's xlogy derivative in the target is (g * y) / y, in that order: at the smallest
    # subnormal y, g * y rounds and the second derivative is -inf in torch where lossgrad's
    # g * (y / y) gave NaN (fuzz seeds 12050 and 12057: a transposed float16 input against a
    # broadcast (4, 3, 1) target)
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -3.0]], dtype)
    y = np.array([[tiny], [1.0], [-np.inf]], dtype)
    results = []
    for lib in (torch, lossgrad):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's 'mean' warning
            loss = lib.nn.functional.kl_div(xt.T, yt, reduction=reduction)
        upstream = lib.tensor(np.full(loss.shape, 0.75, dtype))
        gx, gy = lib.autograd.grad(loss, [xt, yt], upstream, create_graph=True)
        sx, sy = lib.autograd.grad((gx * 0.5).sum() + (gy * -1.25).sum(), [xt, yt])
        results.append([t.detach().numpy() for t in (gx, gy, sx, sy)])
    if reduction == "mean":
        assert np.isneginf(results[0][3][0, 0])
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3 if dtype == np.float16 else 1e-12)


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(3, 2), (3, 2, 1, 1), (1, 2, 3)])
def test_float16_nll_total_past_the_float16_range_is_inf_like_torch(name, reduction, shape):
    # torch's CPU NLL kernel adds the rows' losses in Half: three losses of 4e4 are inf
    # before the mean's division; lossgrad added them in float32 and gave 40000
    x = np.zeros(shape, np.float16)
    if name == "nll_loss":
        x[:, 1] = -4e4
    else:  # each row's loss is log-sum-exp - x[1] = 4e4
        x[:, 0] = 4e4
    target = np.ones((shape[0], *shape[2:]), np.int64)
    results = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        loss = getattr(lib.nn.functional, name)(xt, lib.tensor(target), reduction=reduction)
        loss.backward(lib.tensor(np.float16(0.75)))
        results.append((loss.detach().numpy(), xt.grad.numpy()))
    assert np.isposinf(results[0][0])
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(40, 3), (1, 3, 40), (1, 3, 272)])
def test_float16_nll_adds_in_torchs_half_cascade_order(reduction, weighted, shape):
    # torch's Half total is a cascade of float16 partial sums, each addition rounded: rows 1
    # to 16 go to the first partial sum, so 2048 at row 1 and 1 at rows 2 to 16 add up to
    # 2048 there (2049 rounds to 2048), where the float32 total rounds to 2064; the weights'
    # total is a cascade too, and the mean divides in float16
    rows = shape[0] * shape[-1] if len(shape) == 3 else shape[0]
    losses = np.where(np.arange(rows) % 16 == 1, 2048.0, 1.0)
    target = np.arange(rows) % 3
    target[::7] = -100
    x = np.zeros((rows, 3), np.float16)
    x[np.arange(rows), target % 3] = -losses
    if len(shape) == 3:  # rows are the positions of one sample
        x, target = np.ascontiguousarray(x.T).reshape(shape), target.reshape(1, -1)
    weight = np.array([1.0, 0.5, 2.0], np.float16)
    results = []
    for lib in (torch, lossgrad):
        xt = lib.tensor(x, requires_grad=True)
        kwargs = {"weight": lib.tensor(weight)} if weighted else {}
        loss = lib.nn.functional.nll_loss(xt, lib.tensor(target), reduction=reduction, **kwargs)
        loss.backward(lib.tensor(np.float16(0.75)))
        results.append((loss.detach().numpy(), xt.grad.numpy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    # the gradient, w * -(g / total weight) in torch, is rounded in another order: an ulp
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=2e-3)


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy", "focal_loss"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_class_planes_of_a_permuted_input_pick_each_positions_target(name, dtype):
    # an (N, C, P) view whose positions are not adjacent in memory (a permute of (N, P, C)),
    # with enough positions to take the class-plane kernels: their offsets stepped through
    # each plane one element at a time and read other positions' scores
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 272, 3)).astype(dtype)
    target = rng.integers(0, 3, (2, 272))
    results = []
    for lib in (torch, lossgrad):
        leaf = lib.tensor(base, requires_grad=True)
        x = leaf.permute(0, 2, 1)
        if name == "focal_loss" and lib is torch:  # torch's composition of the focal loss
            log_p = torch.nn.functional.log_softmax(x, 1).gather(1, torch.tensor(target)[:, None])
            loss = (-((1 - log_p.exp()) ** 2) * log_p)[:, 0]
        else:
            kwargs = {"gamma": 2.0} if name == "focal_loss" else {}
            fn = getattr(lib.nn.functional, name)
            loss = fn(x, lib.tensor(target), reduction="none", **kwargs)
        loss.sum().backward()
        results.append((loss.detach().numpy(), leaf.grad.numpy()))
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_multi_margin_weighs_each_hinge_term_before_the_rows_sum_like_torch():
    # torch's kernel multiplies each term by w[y] and then adds them: two terms of 1.7e308
    # times 0.5171 sum to 1.76e308, finite; adding them first overflowed to inf (seed 14065)
    scores = np.array([[-0.0545, -1.7e308, 1.4056], [0.42, 1.0024, 1.7621], [-4.02, 2.94, -0.49]])
    weight = np.array([1.5792, 0.5171, 1.5406])
    values = []
    for lib in (torch, lossgrad):
        loss = lib.nn.functional.multi_margin_loss(
            lib.tensor(scores),
            lib.tensor([1, 0, 1]),
            margin=0.5,
            weight=lib.tensor(weight),
            reduction="none",
        )
        values.append(loss.numpy())
    assert np.isfinite(values[0]).all()
    np.testing.assert_array_equal(values[1], values[0])


def test_sigmoid_focal_second_gradient_in_the_target_adds_in_torchs_order():
    # seed 8 of the sigmoid_focal_loss fuzz run: at x = 1e38, y = 0 (float32) d2l/dy2 times an
    # upstream of 0.8 is 2.4e38; its four terms (8e37, -1.2e38, 1.2e38, 1.6e38) passed the
    # float32 range when they reached y in the walk's old order (inf) and do not in torch's,
    # which runs the ready node recorded last first (the two alpha_t terms cancel first)
    from fuzz.harness import _torch_sigmoid_focal

    results = []
    for lib, fn in ((torch, _torch_sigmoid_focal), (lossgrad, LG.sigmoid_focal_loss)):
        xt = lib.tensor([1e38, 2.0], dtype=lib.float32, requires_grad=True)
        yt = lib.tensor([0.0, 0.3], dtype=lib.float32, requires_grad=True)
        loss = fn(xt, yt, alpha=0.5, gamma=2.0, reduction="none")
        gx, gy = lib.autograd.grad(loss, [xt, yt], lib.tensor([0.8, 0.8]), create_graph=True)
        results.append([g.numpy() for g in lib.autograd.grad(gy.sum(), [xt, yt])])
    assert np.isfinite(results[0][1]).all()
    for theirs, ours in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("swap", [False, True])
def test_distance_second_gradient_meets_at_the_difference_like_torch(swap):
    # seed 30072: a float32 positive equal to the negative in one row (distance eps = 1e-6, a
    # one-element norm of curvature 0); the second derivative's terms through the difference and
    # through the norm (about 1e5 each) cancel in torch where they meet, at the difference;
    # lossgrad's met only at the inputs, after a term of 0.09 had come in (0.027 for 0.0233)
    anchor = np.array([[1, 2, 4, 3]])
    positive = np.array([[1e38, 2.7515, 0.5, -2.4726]], np.float32).T
    negative = np.array([[-0.5483, 1.5871, 0.5, 1.8697]], np.float32).T
    directions = (
        np.array([[0.13], [-0.13], [0.64], [0.1]], np.float32),
        np.array([[-0.54], [0.36], [1.3], [0.95]], np.float32),
    )
    results = []
    for lib in (torch, lossgrad):
        a = lib.tensor(anchor)
        p = lib.tensor(positive, requires_grad=True)
        n = lib.tensor(negative, requires_grad=True)
        losses = [
            lib.nn.functional.triplet_margin_with_distance_loss(a, p, n, swap=swap),
            (
                lib.nn.functional.pairwise_distance(a, p)
                - lib.nn.functional.pairwise_distance(p, n)
            ).sum(),
        ]
        for loss in losses:
            gp, gn = lib.autograd.grad(loss, [p, n], lib.tensor(0.7), create_graph=True)
            total = sum((g * lib.tensor(d)).sum() for g, d in zip((gp, gn), directions))
            results.append([g.numpy() for g in lib.autograd.grad(total, [p, n])])
    half = len(results) // 2
    for theirs, ours in zip(results[:half], results[half:], strict=True):
        for their_grad, our_grad in zip(theirs, ours, strict=True):
            np.testing.assert_allclose(our_grad, their_grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", ["triplet_margin_loss", "triplet_margin_with_distance_loss"])
def test_one_feature_distance_gradients_cancel_exactly_like_torch(loss):
    # seed 60056: with one feature the p = 2 gradient is g * (u / |u|) = +-g exactly in torch;
    # the fused rows' u * (g / |u|) is an ulp off, so the positive's two terms (+g from
    # d(a, p), -g from the swapped d(p, n)) left -2.8e-16 where torch's cancel to 0
    values = ([[-1.7e308]], [[3.1256]], [[-0.8592]])
    grads = []
    for lib in (torch, lossgrad):
        a, p, n = (lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values)
        getattr(lib.nn.functional, loss)(a, p, n, swap=True, reduction="none").backward(
            lib.tensor([0.7], dtype=lib.float64)
        )
        grads.append([t.grad.numpy() for t in (a, p, n)])
    assert grads[0][1][0, 0] == 0.0
    for theirs, ours in zip(*grads, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_cosine_embedding_broadcast_products_round_each_like_torch():
    # seed 62033: x2 = 1e-45 (the smallest float32 subnormal) broadcast against rows of x1:
    # torch rounds each product x1 x2 to the subnormal grid, then sums (-1.4e-45 here, so
    # cos < 0 and the hinge is off); einsum's fused sum gave 0, the hinge on, and gradients
    # (and second gradients of 3e4) where torch's are 0
    x1 = np.array([[0.46441185, -3.4227808, 4.2949295, -1.5868807], [1.0, -0.95, 0.5, -1.1]])
    results = []
    for lib in (torch, lossgrad):
        a = lib.tensor(x1.astype(np.float32), requires_grad=True)
        b = lib.tensor([[1e-45]], requires_grad=True)
        loss = lib.nn.functional.cosine_embedding_loss(
            a, b, lib.tensor([-1.0, 1.0]), reduction="none"
        )
        grads = lib.autograd.grad(loss, [a, b], lib.tensor([0.7, -0.4]))
        results.append([loss.detach().numpy()] + [g.numpy() for g in grads])
    for theirs, ours in zip(*results, strict=True):
        np.testing.assert_array_equal(ours, theirs)
