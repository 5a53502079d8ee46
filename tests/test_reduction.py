"""The reduction helpers (nn/functional/_reduction.py) and the _Loss/_WeightedLoss bases."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn._reduction as torch_reduction

import lossgrad
from lossgrad.nn.functional import _reduction
from lossgrad.nn.modules.loss import _Loss, _WeightedLoss

FLAGS = [None, True, False]


def _recorded(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [(x.category, str(x.message)) for x in w]


@pytest.mark.parametrize("size_average", FLAGS)
@pytest.mark.parametrize("reduce", FLAGS)
def test_legacy_truth_table_matches_torch(size_average, reduce):
    ours = _recorded(_reduction.legacy_get_string, size_average, reduce)
    theirs = _recorded(torch_reduction.legacy_get_string, size_average, reduce)
    assert ours == theirs
    assert (
        _recorded(_reduction.legacy_get_string, size_average, reduce, emit_warning=False)[1] == []
    )


def test_legacy_truth_table_by_hand():
    expected = {
        (True, True): "mean",
        (False, True): "sum",
        (True, False): "none",
        (False, False): "none",
    }
    for (sa, r), want in expected.items():
        assert _reduction.legacy_get_string(sa, r, emit_warning=False) == want
    assert _reduction.legacy_get_string(None, None, emit_warning=False) == "mean"


def test_resolve_plain_values():
    for r in ("none", "mean", "sum"):
        assert _recorded(_reduction.resolve, r) == (r, [])
    assert (
        _reduction.resolve("batchmean", allowed=("none", "mean", "sum", "batchmean")) == "batchmean"
    )


def test_resolve_elementwise_mean_warns_like_torch():
    ours = _recorded(_reduction.resolve, "elementwise_mean")
    enum, theirs = _recorded(torch_reduction.get_enum, "elementwise_mean")
    assert ours[0] == "mean" and enum == torch_reduction.get_enum("mean")
    assert ours[1] == theirs and len(theirs) == 1


@pytest.mark.parametrize("bad", ["avg", "Mean", "", "batchmean"])
def test_resolve_unknown_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError, match=f"^{bad} is not a valid value for reduction"):
        _reduction.resolve(bad)
    with pytest.raises(ValueError):
        torch_reduction.get_enum(bad)


def test_resolve_without_alias_rejects_elementwise_mean():
    with pytest.raises(ValueError, match="elementwise_mean"):
        _reduction.resolve("elementwise_mean", alias=False)


def test_legacy_flags_override_and_skip_validation():
    out, w = _recorded(_reduction.resolve, "not-a-reduction", False, None)
    assert out == "sum" and len(w) == 1 and "reduction='sum'" in w[0][1]
    assert _recorded(_reduction.legacy, "avg", None, None) == ("avg", [])
    assert _recorded(_reduction.legacy, "avg", None, False)[0] == "none"


def test_apply():
    loss = lossgrad.tensor([1.0, 2.0, 6.0])
    assert _reduction.apply(loss, "none") is loss
    assert _reduction.apply(loss, "sum").item() == 9.0
    assert _reduction.apply(loss, "mean").item() == 3.0
    assert _reduction.apply(loss, "mean", denominator=lossgrad.tensor(4.5)).item() == 2.0
    empty = lossgrad.tensor(np.zeros((0, 3), np.float32))
    assert np.isnan(_reduction.apply(empty, "mean").item())
    assert _reduction.apply(empty, "sum").item() == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduce_array_and_grad_scale(dtype):
    a = np.array([1.0, 2.0, 6.0], dtype)
    assert _reduction.reduce_array(a, "none") is a
    for r, want in (("sum", 9.0), ("mean", 3.0)):
        out = _reduction.reduce_array(a, r)
        assert out.dtype == dtype and out.shape == () and out == want
    assert np.isnan(_reduction.reduce_array(np.zeros(0, dtype), "mean"))
    g = lossgrad.tensor(np.array(6.0, dtype))
    assert _reduction.divide_grad(g, _reduction.divisor("sum", (3,), 3)) is g
    assert _reduction.divide_grad(g, None) is g
    assert _reduction.divide_grad(g, _reduction.divisor("mean", (3,), 3)).item() == 2.0
    assert _reduction.divide_grad(g, 3).dtype == g.dtype
    f32 = np.dtype(np.float32)
    assert _reduction.divide_total(np.float32(6.0), 3, f32, "mean") == 2.0
    assert np.isnan(_reduction.divide_total(np.float32(6.0), 0, f32, "mean"))


@pytest.mark.parametrize("size_average", FLAGS)
@pytest.mark.parametrize("reduce", FLAGS)
def test_loss_base_resolves_flags_at_construction(size_average, reduce):
    ours = _recorded(_Loss, size_average, reduce, "sum")
    theirs = _recorded(torch.nn.modules.loss._Loss, size_average, reduce, "sum")
    assert ours[0].reduction == theirs[0].reduction
    assert ours[1] == theirs[1]


def test_weighted_loss_registers_weight_buffer():
    w = lossgrad.tensor([1.0, 2.0])
    m = _WeightedLoss(w, reduction="none")
    assert m.weight is w and m.reduction == "none"
    assert list(m.state_dict()) == ["weight"]
    assert _WeightedLoss().weight is None
