"""ctc_loss / nn.CTCLoss: an independent brute-force reference, parity with torch, errors,
torch's inf/NaN policies, the tutorial's two examples, and second derivatives."""

import itertools
from typing import Any

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad import _parallel
from lossgrad.autograd import gradcheck, gradgradcheck
from lossgrad.nn.functional import loss_ctc
from parity import assert_close, check, check_raises, same_signature

rng = np.random.default_rng(0)


@pytest.fixture(params=["taped", "recomputed"])
def kernel(request, monkeypatch):
    """Both backward kernels: the forward's weights kept on a tape (small lattices), or
    recomputed from the log-alpha lattice (large ones), the latter with tiny blocks so that the
    gathers and scatters run in several blocks with a partial last one."""
    if request.param == "recomputed":
        monkeypatch.setattr(loss_ctc, "_TAPE_CELLS", 0)
        monkeypatch.setattr(loss_ctc, "_GATHER_BLOCK", 500)
        monkeypatch.setattr(loss_ctc, "_SCATTER_BLOCK", 330)
    return request.param


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    out = []
    prev = None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return tuple(out)


def _reference(lp: np.ndarray, target: list[int], length: int, blank: int) -> tuple[float, Any]:
    """Loss and torch-form gradient of one sample by enumerating every alignment (float64,
    probability space): p(l|x) = sum over paths that collapse to l of prod_t p_t(path_t)."""
    probs = np.exp(lp[:length].astype(np.float64))
    C = lp.shape[-1]
    total = 0.0
    occupancy = np.zeros((length, C))  # sum over valid paths of p(path) * [path_t == c]
    for path in itertools.product(range(C), repeat=length):
        if _collapse(path, blank) != tuple(target):
            continue
        p = np.prod(probs[np.arange(length), path])
        total += p
        occupancy[np.arange(length), path] += p
    grad = np.zeros(lp.shape)
    if total > 0:
        grad[:length] = probs - occupancy / total
    elif length:
        grad[:length] = np.nan
    loss = -np.log(total) if total > 0 else np.inf
    return loss, grad


@pytest.mark.parametrize("blank", [0, 2])
def test_matches_brute_force_reference(blank, kernel):
    T, N, C = 6, 5, 3
    lp = _log_softmax(rng.standard_normal((T, N, C)))
    labels = [c for c in range(C) if c != blank]
    a, b = labels
    targets = [[a, b], [a, a], [b], [], [b, b, b, a]]
    lengths = [6, 5, 3, 4, 6]
    padded = np.full((N, 4), blank, np.int64)
    for n, t in enumerate(targets):
        padded[n, : len(t)] = t
    x = lossgrad.tensor(lp, requires_grad=True)
    target_lengths = [len(t) for t in targets]
    loss = lossgrad.nn.functional.ctc_loss(
        x, lossgrad.tensor(padded), lengths, target_lengths, blank=blank, reduction="none"
    )
    loss.sum().backward()
    for n in range(N):
        ref_loss, ref_grad = _reference(lp[:, n], targets[n], lengths[n], blank)
        assert np.isclose(loss[n].item(), ref_loss, rtol=1e-12), (n, loss[n].item(), ref_loss)
        np.testing.assert_allclose(
            x.grad.numpy()[:, n], ref_grad, rtol=1e-9, atol=1e-12, equal_nan=True
        )
    # sample 4 needs 5 frames for 4 labels with a repeat (b b b a -> b _ b _ b a): 6 is enough
    assert np.isfinite(loss[4].item())


def _batch(T, N, C, S, dtype, blank=0, min_len=1, impossible=False):
    lp = _log_softmax(rng.standard_normal((T, N, C))).astype(dtype)
    choices = np.array([c for c in range(C) if c != blank])
    targets = choices[rng.integers(0, len(choices), (N, S))]
    targets[:, 1::3] = targets[:, 0::3][:, : targets[:, 1::3].shape[1]]  # repeated labels
    il = rng.integers(max(T // 2, 1), T + 1, N)
    il[0] = T
    tl = rng.integers(min_len, S + 1, N)
    tl[-1] = 0
    if impossible:
        tl[0], il[0] = S, S - 1
    return lp, targets, il, tl


def _concat(targets, tl):
    return np.concatenate([targets[n, : tl[n]] for n in range(len(tl))])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["padded", "concat"])
def test_parity_random_batches(reduction, dtype, layout, kernel):
    lp, targets, il, tl = _batch(12, 6, 5, 4, dtype)
    tg = targets if layout == "padded" else _concat(targets, tl)
    check(_ctc(reduction=reduction), [lp, tg, il, tl], grad=(0,), second_order=False)


@pytest.mark.parametrize("blank", [3, 4])
@pytest.mark.parametrize("target_dtype", [np.int32, np.int64])
def test_parity_blank_and_int32_targets_and_tuple_lengths(blank, target_dtype):
    lp, targets, il, tl = _batch(10, 5, 5, 3, np.float64, blank=blank)

    def fn(lib, x, t):
        return lib.nn.functional.ctc_loss(x, t, tuple(il.tolist()), list(tl.tolist()), blank=blank)

    check(fn, [lp, targets.astype(target_dtype)], grad=(0,), second_order=False)


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_parity_impossible_alignments(zero_infinity, reduction, kernel):
    lp, targets, il, tl = _batch(8, 4, 4, 5, np.float64, impossible=True)
    targets[1, :3] = 2  # three equal labels need five frames
    il[1], tl[1] = 4, 3
    fn = _ctc(reduction=reduction, zero_infinity=zero_infinity)
    out = check(fn, [lp, targets, il, tl], grad=(0,), second_order=False)
    if reduction == "none":
        first_two = out.detach().numpy()[:2]
        assert (first_two == 0).all() if zero_infinity else np.isinf(first_two).all()


def test_parity_unbatched_and_module():
    lp, targets, il, tl = _batch(9, 1, 4, 3, np.float32, min_len=2)
    args = [lp[:, 0], targets[0], il[:1].reshape(()), tl[:1].reshape(())]
    for reduction in ("none", "mean", "sum"):

        def fn(lib, x, t, i, l, reduction=reduction):
            return lib.nn.CTCLoss(reduction=reduction)(x, t, i, l)

        check(fn, args, grad=(0,), second_order=False)


def test_parity_edge_lengths_and_neg_inf_log_probs(kernel):
    lp, targets, il, tl = _batch(6, 4, 4, 2, np.float64)
    il[1], tl[1] = 0, 0  # empty input, empty target: loss 0
    il[2], tl[2] = 0, 1  # empty input, non-empty target: inf, zero gradient
    lp[2, 0, 1] = -np.inf  # a -inf log-probability: torch's gradient is NaN there
    check(_ctc(reduction="none"), [lp, targets, il, tl], grad=(0,), second_order=False)


def test_parity_threaded_batch(kernel, monkeypatch):
    """The batch split across two threads (rows of 5 * 63 cells each, the threshold lowered)."""
    lp, targets, il, tl = _batch(200, 10, 8, 30, np.float64)
    monkeypatch.setattr(loss_ctc, "_PARALLEL_ROW", 300)
    threads = _parallel.get_num_threads()
    _parallel.set_num_threads(2)
    try:
        assert len(loss_ctc._slices(10, 2 * 30 + 3)) == 2
        assert loss_ctc._slices(1, 10**6) == [slice(0, 1)]  # never an empty part
        check(_ctc(reduction="sum"), [lp, targets, il, tl], grad=(0,), second_order=False)
    finally:
        _parallel.set_num_threads(threads)


@pytest.mark.parametrize("T", [12, 13])
def test_values_without_grad_keep_two_alpha_rows(T):
    """No gradient needed: the forward alternates two rows of alpha instead of keeping all."""
    lp, targets, il, tl = _batch(T, 6, 5, 4, np.float32)
    values = []
    for lib in (lossgrad, torch):
        args = (lib.tensor(lp), lib.tensor(targets), lib.tensor(il), lib.tensor(tl))
        values.append(lib.nn.functional.ctc_loss(*args, reduction="none"))
    assert values[0].grad_fn is None
    assert_close(values[0], values[1], 1e-5, 1e-5, "loss")


def test_parity_large_lattice():
    """Default thresholds crossed: weights recomputed in backward, classes scattered by group."""
    lp, targets, il, tl = _batch(300, 40, 30, 50, np.float64)  # float32: see the accuracy test
    cells = 300 * 40 * (2 * 50 + 3)
    assert cells > loss_ctc._TAPE_CELLS and cells * 30 > loss_ctc._ONEHOT_MACS
    check(_ctc(reduction="mean"), [lp, targets, il, tl], grad=(0,), second_order=False)


def test_parity_large_vocabulary(kernel):
    """Many classes: the class posteriors are scattered group by group instead of by a
    one-hot product (repeated labels land in successive groups)."""
    lp, targets, il, tl = _batch(60, 4, 1000, 10, np.float64)
    targets[:, :6] = [7, 3, 7, 7, 3, 9]
    tl[:] = [10, 9, 10, 0]
    assert lp.size * (2 * tl.max() + 3) > loss_ctc._ONEHOT_MACS  # the grouped path
    check(_ctc(reduction="mean"), [lp, targets, il, tl], grad=(0,), second_order=False)


def test_float32_gradient_at_least_as_accurate_as_torch(kernel):
    """torch's float32 gradient exp(lcab + nll - lp) cancels two large log-magnitudes; the
    posterior propagated in probability space does not, so lossgrad is closer to float64."""
    lp, targets, il, tl = _batch(200, 8, 8, 30, np.float32)
    grads = {}
    runs = (("lg", lossgrad, lp), ("th", torch, lp), ("ref", torch, lp.astype(np.float64)))
    for name, lib, arr in runs:
        x = lib.tensor(arr).requires_grad_()
        tensors = (lib.tensor(targets), lib.tensor(il), lib.tensor(tl))
        lib.nn.functional.ctc_loss(x, *tensors, reduction="sum").backward()
        grads[name] = x.grad.numpy().astype(np.float64)
    err_lg = np.abs(grads["lg"] - grads["ref"]).max()
    err_th = np.abs(grads["th"] - grads["ref"]).max()
    assert err_lg <= err_th and err_lg < 1e-4, (err_lg, err_th)


def _tutorial_inputs(padded: bool):
    T, C, N, S, S_min = 50, 20, 16, 30, 10
    lp = _log_softmax(rng.standard_normal((T, N, C))).astype(np.float32)
    il = np.full(N, T)
    if padded:
        return lp, rng.integers(1, C, (N, S)), il, rng.integers(S_min, S, N)
    tl = rng.integers(1, T, N)
    return lp, rng.integers(1, C, (int(tl.sum()),)), il, tl


@pytest.mark.parametrize("padded", [True, False])
def test_tutorial_examples(padded):
    """The tutorial's two nn.CTCLoss examples: loss and log_probs.grad equal torch's."""
    lp, targets, il, tl = _tutorial_inputs(padded)
    results = []
    for lib in (lossgrad, torch):
        x = lib.tensor(lp).requires_grad_()
        loss = lib.nn.CTCLoss()(x, lib.tensor(targets), lib.tensor(il), lib.tensor(tl))
        loss.backward()
        results.append((loss, x.grad))
    assert str(results[0][0].grad_fn.name()) == results[1][0].grad_fn.name() == "MeanBackward0"
    assert_close(results[0][0], results[1][0], 1e-5, 1e-5, "loss")
    assert_close(results[0][1], results[1][1], 1e-4, 1e-6, "log_probs.grad")


def _ctc(**kw):
    return lambda lib, x, t, i, l: lib.nn.functional.ctc_loss(x, t, i, l, **kw)


def test_errors_match_torch():
    lp, targets, il, tl = _batch(5, 2, 4, 2, np.float32, min_len=1)

    def mixed(lib, x, t, i, l):
        return lib.nn.functional.ctc_loss(x, t, i, l.tolist())

    def float_list(lib, x, t, i, l):
        return lib.nn.functional.ctc_loss(x, t, [5.0, 5.0], [1, 1])

    def list_targets(lib, x, t, i, l):
        return lib.nn.functional.ctc_loss(x, t.tolist(), i, l)

    cases = [
        ([lp, targets, il + 1, tl], _ctc()),  # input length > T
        ([lp, targets, -il, tl], _ctc()),
        ([lp, targets, il, -tl], _ctc()),
        ([lp, targets, il, tl + 5], _ctc()),  # padded targets too short
        ([lp, targets, il[:1], tl], _ctc()),
        ([lp, targets, il, tl], _ctc(blank=4)),
        ([lp, targets, il, tl], _ctc(blank=-1)),
        ([lp, targets, il, tl], _ctc(reduction="avg")),
        ([lp, targets, il.astype(np.float32), tl], _ctc()),
        ([lp, targets.ravel(), il, tl + 1], _ctc()),  # concatenated size mismatch
        ([lp, targets[None], il, tl], _ctc()),
        ([lp, targets[:1], il, tl], _ctc()),
        ([lp[None], targets, il, tl], _ctc()),
        ([lp[:, :, :0], targets, il, tl], _ctc()),
        ([lp.astype(np.int64), targets, il, tl], _ctc()),
        ([lp.astype(np.float16), targets, il, tl], _ctc()),
        # mixed or non-integer length kinds, list targets: TypeError in both
        ([lp, targets, il, tl], mixed),
        ([lp, targets, il, tl], float_list),
        ([lp, targets, il, tl], list_targets),
    ]
    for args, fn in cases:
        check_raises(fn, args)


def test_error_messages_name_the_values():
    lp, targets, il, tl = _batch(5, 2, 4, 2, np.float32)
    x, t = lossgrad.tensor(lp), lossgrad.tensor(targets)
    with pytest.raises(RuntimeError, match="at most 5, but got value 6"):
        lossgrad.nn.functional.ctc_loss(x, t, [6, 5], tl.tolist())
    with pytest.raises(RuntimeError, match="size at least 3 at dimension 1, but got size 2"):
        lossgrad.nn.functional.ctc_loss(x, t, [5, 5], [3, 1])
    # torch reads out of bounds here; lossgrad refuses
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        bad = lossgrad.tensor(np.array([[1, 7], [1, 2]]))
        lossgrad.nn.functional.ctc_loss(x, bad, [5, 5], [2, 2])


def test_signatures():
    same_signature(lossgrad.nn.functional.ctc_loss, torch.nn.functional.ctc_loss)
    same_signature(lossgrad.nn.CTCLoss.__init__, torch.nn.CTCLoss.__init__)
    same_signature(lossgrad.nn.CTCLoss.forward, torch.nn.CTCLoss.forward)
    m = lossgrad.nn.CTCLoss(blank=3, reduction="sum", zero_infinity=True)
    assert (m.blank, m.reduction, m.zero_infinity) == (3, "sum", True)


def _double_backward_inputs():
    x = lossgrad.tensor(rng.standard_normal((6, 3, 4)), requires_grad=True)
    targets = lossgrad.tensor(np.array([[1, 2, 2], [3, 1, 0], [2, 2, 2]]))
    return x, targets, [6, 5, 6], [3, 2, 3]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck_and_gradgradcheck_through_log_softmax(reduction):
    x, targets, il, tl = _double_backward_inputs()

    def f(x):
        lp = x.log_softmax(2)
        return lossgrad.nn.functional.ctc_loss(lp, targets, il, tl, reduction=reduction)

    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_gradgradcheck_with_impossible_sample_and_zero_infinity():
    x, targets, il, tl = _double_backward_inputs()
    il[2] = 4  # 2 2 2 needs five frames: impossible, zeroed

    def f(x):
        lp = x.log_softmax(2)
        return lossgrad.nn.functional.ctc_loss(
            lp, targets, il, tl, reduction="sum", zero_infinity=True
        )

    assert gradgradcheck(f, (x,))


def test_second_order_value_is_first_order_value(kernel):
    """With create_graph=True the gradient's value is the fused kernel's (torch's form), and
    its Hessian-vector product is symmetric (it is the Hessian of a function). The second
    backward of the retained graph recomputes the lattice the first one overwrote."""
    x, targets, il, tl = _double_backward_inputs()
    lp = x.log_softmax(2)
    loss = lossgrad.nn.functional.ctc_loss(lp, targets, il, tl, reduction="sum")
    (g1,) = lossgrad.autograd.grad(loss, lp, retain_graph=True)
    (g2,) = lossgrad.autograd.grad(loss, lp, create_graph=True)
    np.testing.assert_array_equal(g1.numpy(), g2.detach().numpy())
    u, v = (lossgrad.tensor(rng.standard_normal(x.shape)) for _ in range(2))
    (gx,) = lossgrad.autograd.grad(loss, x, create_graph=True)
    (hu,) = lossgrad.autograd.grad((gx * u).sum(), x, retain_graph=True)
    (hv,) = lossgrad.autograd.grad((gx * v).sum(), x)
    assert np.isclose((hu * v).sum().item(), (hv * u).sum().item(), rtol=1e-9)


def test_backward_again_through_retained_graph(kernel):
    """The first backward overwrites the saved lattice with the posterior; each later one
    (retain_graph=True) recomputes it, and all give torch's gradient."""
    lp, targets, il, tl = _batch(20, 4, 5, 4, np.float32)
    grads = {}
    for lib in (lossgrad, torch):
        x = lib.tensor(lp).requires_grad_()
        tensors = (lib.tensor(targets), lib.tensor(il), lib.tensor(tl))
        loss = lib.nn.functional.ctc_loss(x, *tensors)
        grads[lib] = [lib.autograd.grad(loss, x, retain_graph=True)[0] for _ in range(3)]
    for g in grads[lossgrad]:
        np.testing.assert_array_equal(g.numpy(), grads[lossgrad][0].numpy())
        assert_close(g, grads[torch][0], 1e-4, 1e-6, "log_probs.grad")
