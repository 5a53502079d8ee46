"""Box losses and pairwise IoU against torchvision.ops (its loss files loaded without the
compiled package): values, gradients of both box sets, degenerate boxes, second derivatives."""

import math

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from oracles import load_submodule

F = lossgrad.nn.functional
rng = np.random.default_rng(150)
TV = {
    "generalized_box_iou_loss": load_submodule("torchvision.ops.giou_loss").generalized_box_iou_loss,
    "distance_box_iou_loss": load_submodule("torchvision.ops.diou_loss").distance_box_iou_loss,
    "complete_box_iou_loss": load_submodule("torchvision.ops.ciou_loss").complete_box_iou_loss,
    "box_iou": load_submodule("torchvision.ops.boxes").box_iou,
    "generalized_box_iou": load_submodule("torchvision.ops.boxes").generalized_box_iou,
}
LOSSES = ["generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"]
MODULES = {
    "generalized_box_iou_loss": lossgrad.nn.GeneralizedBoxIoULoss,
    "distance_box_iou_loss": lossgrad.nn.DistanceBoxIoULoss,
    "complete_box_iou_loss": lossgrad.nn.CompleteBoxIoULoss,
}


def boxes(n, overlap_with=None):
    corner = rng.random((n, 2)) * 10
    size = rng.random((n, 2)) * 5 + 0.1
    out = np.concatenate([corner, corner + size], 1)
    if overlap_with is not None:  # half of the pairs overlap
        out[: n // 2] = overlap_with[: n // 2] + rng.normal(size=(n // 2, 4)) * 0.3
    return out


def run_both(name, first, second, dtype, **kw):
    t1 = torch.tensor(first.astype(dtype), requires_grad=True)
    t2 = torch.tensor(second.astype(dtype), requires_grad=True)
    want = TV[name](t1, t2, **kw)
    l1 = lossgrad.tensor(first.astype(dtype), requires_grad=True)
    l2 = lossgrad.tensor(second.astype(dtype), requires_grad=True)
    got = getattr(F, name)(l1, l2, **kw)
    seed = rng.normal(size=tuple(want.shape)).astype(dtype)
    (want * torch.tensor(seed)).sum().backward()
    (got * lossgrad.tensor(seed)).sum().backward()
    return want, got, (t1.grad.numpy(), t2.grad.numpy()), (l1.grad.numpy(), l2.grad.numpy())


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
def test_box_losses_match_torchvision(name, reduction, dtype, tol):
    first = boxes(40)
    second = boxes(40, overlap_with=first)
    want, got, want_grads, got_grads = run_both(name, first, second, dtype, reduction=reduction)
    assert got.dtype == getattr(lossgrad, np.dtype(dtype).name)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)
    for ours, theirs in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=tol * 10, atol=tol * 10)
    module = MODULES[name](reduction=reduction)
    np.testing.assert_allclose(
        module(lossgrad.tensor(first), lossgrad.tensor(second)).detach().numpy(),
        TV[name](torch.tensor(first), torch.tensor(second), reduction=reduction).numpy(),
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", LOSSES)
def test_eps_and_batched_shapes(name):
    first = boxes(24).reshape(2, 3, 4, 4)
    second = boxes(24).reshape(2, 3, 4, 4)
    want, got, want_grads, got_grads = run_both(name, first, second, np.float64, eps=1e-3)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_grads[0], want_grads[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou"])
def test_pairwise_matrices_match_torchvision(name):
    first, second = boxes(7), boxes(5)
    second[:3] = first[:3] + 0.2
    want, got, want_grads, got_grads = run_both(name, first, second, np.float64)
    assert tuple(got.shape) == (7, 5)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_grads[0], want_grads[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_grads[1], want_grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_iou_formats_match_torchvision(fmt):
    first, second = rng.random((4, 4)) * 5 + 0.5, rng.random((3, 4)) * 5 + 0.5
    want = TV["box_iou"](torch.tensor(first), torch.tensor(second), fmt=fmt).numpy()
    got = F.box_iou(lossgrad.tensor(first), lossgrad.tensor(second), fmt=fmt).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


DEGENERATE = (
    np.array([[1.0, 1.0, 3.0, 3.0], [0, 0, 2, 2], [1, 1, 3, 1], [2, 0, 2, 4], [5, 5, 6, 6]]),
    np.array([[1.0, 1.0, 3.0, 3.0], [0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 3], [0, 0, 1, 1]]),
)


@pytest.mark.parametrize("name", LOSSES)
def test_zero_area_boxes_are_finite_as_torchvision(name):
    """Identical boxes, boxes of zero height or width, disjoint boxes: finite losses equal to
    torchvision's; finite gradients equal to torchvision's where it has them."""
    want, got, want_grads, got_grads = run_both(name, *DEGENERATE, np.float64)
    assert np.isfinite(got.detach().numpy()).all()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    assert np.isfinite(got_grads[0]).all() and np.isfinite(got_grads[1]).all()
    if name != "complete_box_iou_loss":
        np.testing.assert_allclose(got_grads[0], want_grads[0], rtol=1e-10, atol=1e-14)
    else:  # torchvision's atan(w / h) gives 0 * inf = NaN at h = 0 (rows 2, 3); ours the limit
        finite = np.isfinite(want_grads[0]).all(1)
        assert not finite[2] and finite[[0, 1, 4]].all()
        np.testing.assert_allclose(got_grads[0][finite], want_grads[0][finite], rtol=1e-10, atol=1e-14)


def test_ciou_gradient_at_zero_height_is_the_limit():
    """At h = 0 the aspect angle's derivative is d atan(w/h) = (h dw - w dh) / (w^2 + h^2):
    compare with the float64 gradient at a tiny positive height (the boxes are disjoint, so the
    intersection term, one-sided at h = 0, plays no part)."""
    target = lossgrad.tensor([[0.0, 0.0, 2.0, 3.0]], dtype=lossgrad.float64)
    at_zero = lossgrad.tensor([[5.0, 1.0, 7.0, 1.0]], dtype=lossgrad.float64, requires_grad=True)
    near_zero = lossgrad.tensor([[5.0, 1.0, 7.0, 1.0 + 1e-9]], dtype=lossgrad.float64, requires_grad=True)
    F.complete_box_iou_loss(at_zero, target).backward()
    F.complete_box_iou_loss(near_zero, target).backward()
    np.testing.assert_allclose(at_zero.grad.numpy(), near_zero.grad.numpy(), rtol=1e-6)


def test_ciou_point_box_is_nan_as_torchvision():
    """A 0-by-0 box has no aspect ratio: NaN, like torchvision (GIoU and DIoU stay finite)."""
    point = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert math.isnan(float(F.complete_box_iou_loss(lossgrad.tensor(point), lossgrad.tensor(point))))
    assert math.isnan(float(TV["complete_box_iou_loss"](torch.tensor(point), torch.tensor(point))))
    for name in ("generalized_box_iou_loss", "distance_box_iou_loss"):
        value = float(getattr(F, name)(lossgrad.tensor(point), lossgrad.tensor(point)))
        assert value == float(TV[name](torch.tensor(point), torch.tensor(point)))


def test_empty_box_sets_reduce_like_torchvision():
    empty = np.zeros((0, 4))
    for name in LOSSES:
        for reduction in ("none", "mean", "sum"):
            got = getattr(F, name)(lossgrad.tensor(empty), lossgrad.tensor(empty), reduction=reduction)
            want = TV[name](torch.tensor(empty), torch.tensor(empty), reduction=reduction)
            assert tuple(got.shape) == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_integer_and_float16_boxes_are_computed_in_float32():
    ints = np.array([[0, 0, 4, 4], [1, 1, 5, 3]])
    for name in LOSSES:
        got = getattr(F, name)(lossgrad.tensor(ints), lossgrad.tensor(ints[::-1].copy()))
        want = TV[name](torch.tensor(ints), torch.tensor(ints[::-1].copy()))
        assert got.dtype == lossgrad.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
        half = getattr(F, name)(lossgrad.tensor(ints.astype(np.float16)), lossgrad.tensor(ints[::-1].astype(np.float16)))
        assert half.dtype == lossgrad.float32


@pytest.mark.parametrize("name", LOSSES + ["box_iou", "generalized_box_iou"])
def test_second_derivatives(name):
    """gradgradcheck in float64 (CIoU: of the loss with alpha held constant, torchvision's
    definition, so gradcheck of CIoU itself is expected to fail and is not run)."""
    first = lossgrad.tensor(boxes(6), requires_grad=True)
    second_np = boxes(6, overlap_with=first.detach().numpy())
    second = lossgrad.tensor(second_np, requires_grad=True)
    fn = getattr(F, name)
    if name == "complete_box_iou_loss":
        return  # test_ciou_second_derivative_matches_torchvision
    assert gradcheck(fn, (first, second))
    assert gradgradcheck(fn, (first, second))


def test_ciou_second_derivative_matches_torchvision():
    """With alpha held constant, finite differences of the gradient see alpha move: CIoU's
    second derivative is checked against torch's double backward through torchvision's."""
    first = boxes(6)
    second = boxes(6, overlap_with=first)
    direction = rng.normal(size=first.shape)
    results = []
    for lib, fn in ((torch, TV["complete_box_iou_loss"]), (lossgrad, F.complete_box_iou_loss)):
        b1 = lib.tensor(first, requires_grad=True)
        b2 = lib.tensor(second, requires_grad=True)
        (grad,) = lib.autograd.grad(fn(b1, b2, reduction="sum"), (b1,), create_graph=True)
        hessian_vector = lib.autograd.grad((grad * lib.tensor(direction)).sum(), (b1, b2))
        results.append([h.detach().numpy() for h in hessian_vector])
    for want, got in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_ciou_first_derivative_holds_alpha_constant():
    """The CIoU gradient equals torchvision's, which is NOT the finite-difference gradient."""
    first = lossgrad.tensor(boxes(4), requires_grad=True)
    second = lossgrad.tensor(boxes(4, overlap_with=first.detach().numpy()))
    assert not gradcheck(lambda b: F.complete_box_iou_loss(b, second), (first,), raise_exception=False)


def test_bad_inputs_name_the_argument_and_are_not_mutated():
    good = boxes(3)
    copy = good.copy()
    with pytest.raises(ValueError, match="boxes1"):
        F.generalized_box_iou_loss(lossgrad.tensor(np.zeros((3, 3))), lossgrad.tensor(good))
    with pytest.raises(ValueError, match="boxes1 and boxes2"):
        F.distance_box_iou_loss(lossgrad.tensor(good), lossgrad.tensor(boxes(2)))
    with pytest.raises(ValueError, match="reduction"):
        F.complete_box_iou_loss(lossgrad.tensor(good), lossgrad.tensor(good), reduction="avg")
    with pytest.raises(ValueError, match="fmt"):
        F.box_iou(lossgrad.tensor(good), lossgrad.tensor(good), fmt="xyzw")
    with pytest.raises(TypeError, match="boxes2"):
        F.generalized_box_iou_loss(lossgrad.tensor(good), good)
    for name in LOSSES:
        getattr(F, name)(lossgrad.tensor(good), lossgrad.tensor(good[::-1].copy()), reduction="sum")
    np.testing.assert_array_equal(good, copy)


def test_atan_and_atan2_match_torch():
    y, x = rng.normal(size=6), rng.normal(size=6)
    x[0], y[0] = 0.0, 1.0
    for ours, theirs in (
        (lambda: lossgrad.atan(lossgrad.tensor(y, requires_grad=True)), lambda: torch.atan(torch.tensor(y, requires_grad=True))),
    ):
        a, b = ours(), theirs()
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-15)
    ly, lx = lossgrad.tensor(y, requires_grad=True), lossgrad.tensor(x, requires_grad=True)
    ty, tx = torch.tensor(y, requires_grad=True), torch.tensor(x, requires_grad=True)
    lossgrad.atan2(ly, lx).sum().backward()
    torch.atan2(ty, tx).sum().backward()
    np.testing.assert_allclose(lossgrad.atan2(ly, lx).detach().numpy(), torch.atan2(ty, tx).detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(ly.grad.numpy(), ty.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-14)
    assert gradgradcheck(lossgrad.atan, (lossgrad.tensor(y, requires_grad=True),))
    assert gradgradcheck(lossgrad.atan2, (ly, lx))


def test_signatures_are_torchvision_s():
    import inspect

    for name in LOSSES + ["box_iou", "generalized_box_iou"]:
        assert inspect.signature(getattr(F, name)).parameters.keys() == inspect.signature(TV[name]).parameters.keys(), name
        for parameter in inspect.signature(TV[name]).parameters.values():
            assert inspect.signature(getattr(F, name)).parameters[parameter.name].default == parameter.default


@pytest.mark.parametrize("kind", ["giou", "diou", "ciou"])
def test_fused_kernel_gradient_matches_its_composite(kind):
    """The box losses run one fused op whose NumPy first derivative is written by hand; the
    composite of lossgrad ops is its definition (and what create_graph differentiates). Both
    give the same gradients, with ties between corners (max/min split them), disjoint and
    nested boxes, and boxes broadcast against one target."""
    from lossgrad.nn.functional.loss_detection import _COMPOSITES, _BoxLoss

    first = boxes(64)
    second = boxes(64, overlap_with=first)
    second[:8, :2] = first[:8, :2]  # tied near corners
    second[8:12] = first[8:12]  # identical boxes
    second[12:16] = first[12:16] * 0.5 + 20.0  # far apart
    cases = [(first, second), (first, second[:1])]
    for one, other in cases:
        seed = rng.normal(size=np.broadcast_shapes(one.shape, other.shape)[:-1])
        grads = []
        for fn in (lambda a, b: _BoxLoss.apply(a, b, kind, 1e-7), lambda a, b: _COMPOSITES[kind](a, b, 1e-7)):
            a = lossgrad.tensor(one, requires_grad=True)
            b = lossgrad.tensor(other, requires_grad=True)
            (fn(a, b) * lossgrad.tensor(seed)).sum().backward()
            grads.append((a.grad.numpy(), b.grad.numpy()))
        for fused, composite in zip(grads[0], grads[1], strict=True):
            np.testing.assert_allclose(fused, composite, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", LOSSES)
def test_many_boxes_split_over_threads_match_torchvision(name):
    """40000 pairs: the fused op runs in blocks of rows split over two threads (the pool's
    threshold is passed); values and both gradients still equal torchvision's."""
    from lossgrad import _parallel

    first = boxes(40000)
    second = boxes(40000, overlap_with=first)
    threads = _parallel.get_num_threads()
    _parallel.set_num_threads(2)
    try:
        want, got, want_grads, got_grads = run_both(name, first, second, np.float64)
    finally:
        _parallel.set_num_threads(threads)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    for ours, theirs in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
