"""The catalog's entries against torch: every example runs unchanged under torch 2.13 with the same
value, gradients and grad_fn; and an entry may have a module and no functional, as torch's
``nn.AdaptiveLogSoftmaxWithLoss``."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad import _catalog
from lossgrad.cli import _compare

COMPARED = [e for e in _catalog.CATALOG if e.in_torch or e.torch_example]

@pytest.mark.parametrize("entry", COMPARED, ids=lambda e: e.key)
def test_example_agrees_with_torch(entry):
    """A loss torch has runs the same program under torch; an extension with a torch_example
    runs its formula written with torch's functions. Value, gradients and (for torch's losses)
    grad_fn agree, as the tour checks."""
    mine = _catalog.run_example(entry)
    theirs = _catalog.run_example(entry, "torch")
    assert mine.grads, f"{entry.key}: the example should call backward()"
    assert _compare(entry, mine, theirs) == []


ADAPTIVE = _catalog.find("adaptive_log_softmax")


def test_a_module_only_entry_has_its_module_and_no_functional():
    assert ADAPTIVE.functional is None and ADAPTIVE.function() is None
    assert ADAPTIVE.module_class() is lossgrad.nn.AdaptiveLogSoftmaxWithLoss
    assert ADAPTIVE.module_class(torch) is torch.nn.AdaptiveLogSoftmaxWithLoss
    assert ADAPTIVE.available() and ADAPTIVE.available(torch) and ADAPTIVE.missing() == []
    assert ADAPTIVE.title == "AdaptiveLogSoftmaxWithLoss"
    assert ADAPTIVE.torch_name == "torch.nn.AdaptiveLogSoftmaxWithLoss"
    assert ADAPTIVE.names() == (
        "adaptive_log_softmax",
        "AdaptiveLogSoftmaxWithLoss",
        *ADAPTIVE.aliases,
    )
    assert ADAPTIVE.lossgrad_names() == ["lossgrad.nn.AdaptiveLogSoftmaxWithLoss"]
    assert ADAPTIVE.lossgrad_names("nn", "F") == ["nn.AdaptiveLogSoftmaxWithLoss"]
    assert ADAPTIVE.defining_module() == "lossgrad.nn.modules.loss_language"
    for name in ("adaptive_log_softmax", "AdaptiveLogSoftmaxWithLoss", "adaptive_softmax"):
        assert _catalog.find(name) is ADAPTIVE


def test_a_module_only_entry_takes_its_options_from_the_constructor():
    """torch's constructor: (in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
    device=None, dtype=None); --set offers the scalar options, not the factory arguments."""
    assert ADAPTIVE.parameters() == {
        "div_value": 4.0,
        "head_bias": False,
        "device": None,
        "dtype": None,
    }
    assert ADAPTIVE.tunable() == {"div_value": 4.0, "head_bias": False}
    assert ADAPTIVE.signatures() == [
        "nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=4.0, "
        "head_bias=False, device=None, dtype=None)"
    ]


def test_missing_names_what_a_build_lacks():
    """A build without the module (a stand-in library here) reports it, named as in lossgrad."""
    bare = SimpleNamespace(nn=SimpleNamespace(functional=SimpleNamespace()))
    assert ADAPTIVE.missing(bare) == ["lossgrad.nn.AdaptiveLogSoftmaxWithLoss"]
    assert not ADAPTIVE.available(bare)
    huber = _catalog.find("huber")
    assert huber.missing(bare) == ["lossgrad.nn.HuberLoss", "lossgrad.nn.functional.huber_loss"]
    bare.nn.functional.huber_loss = lossgrad.nn.functional.huber_loss
    assert huber.missing(bare) == ["lossgrad.nn.HuberLoss"]


def test_an_entry_needs_a_functional_or_a_module():
    fields = {f.name: getattr(ADAPTIVE, f.name) for f in dataclasses.fields(ADAPTIVE)}
    with pytest.raises(ValueError, match="adaptive_log_softmax: a loss needs a functional"):
        _catalog.Loss(**{**fields, "module": None})


def test_adaptive_curve_is_the_factorized_probability():
    """Target class 2, first of the tail cluster {2, 3}; the cluster's head logit is h against
    the shortlist's two zeros, and class 2's tail logit is h per hidden unit (in_features //
    div_value of them) against class 3's 0: ℓ = log(1 + 2e^(−h)) + log(1 + e^(−units·h))."""
    for div_value, units in ((1.0, 1), (0.5, 2)):
        data = _catalog.curve_data(ADAPTIVE, params={"div_value": div_value}, points=41)
        h = data.x
        expected = np.log1p(2 * np.exp(-h)) + np.log1p(np.exp(-units * h))
        slope = -2 / (np.exp(h) + 2) - units / (np.exp(units * h) + 1)
        np.testing.assert_allclose(data.loss, expected, rtol=1e-12)
        np.testing.assert_allclose(data.grad, slope, rtol=1e-12, atol=1e-15)


def test_every_name_finds_one_loss():
    """No two entries share a name, once normalized as ``find`` does (else ``find`` would
    silently return one of them)."""
    owners: dict[str, set[str]] = {}
    for entry in _catalog.CATALOG:
        for name in entry.names():
            owners.setdefault(_catalog._norm(name), set()).add(entry.key)
    assert {name: keys for name, keys in owners.items() if len(keys) > 1} == {}
