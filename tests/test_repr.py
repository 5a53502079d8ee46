"""repr(tensor) character for character against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad


def _arrays() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    n = rng.standard_normal
    out = [
        ("scalar", np.array(0.5, np.float32)),
        ("scalar int-valued", np.array(3.0, np.float32)),
        ("scalar int", np.array(3)),
        ("scalar bool", np.array(True)),
        ("scalar tiny", np.array(1e-7, np.float32)),
        ("scalar nan", np.array(np.nan, np.float32)),
        ("scalar -0", np.array(-0.0, np.float32)),
        ("vector", np.array([1.0, 2.0, 3.0], np.float32)),
        ("vector mixed sign", np.array([-1.5, 2.25, 0.0], np.float32)),
        ("ints", np.array([1, -20, 300])),
        ("int32", np.array([1, 2, 3], np.int32)),
        ("uint8", np.array([0, 255], np.uint8)),
        ("int8", np.array([-128, 5], np.int8)),
        ("int16", np.array([7], np.int16)),
        ("bools", np.array([True, False, True])),
        ("bool matrix", np.array([[True], [False]])),
        ("float64", n(5)),
        ("float16", n(5).astype(np.float16)),
        ("float64 int-valued", np.array([1.0, -2.0], np.float64)),
        ("sci small", np.array([1e-5, 1.0], np.float32)),
        ("sci large", np.array([1e9, 1.0])),
        ("sci ratio", np.array([1.0, 1001.0], np.float32)),
        ("ratio just below", np.array([1.0, 999.0], np.float32)),
        ("int mode sci", np.array([1e10, 1.0], np.float32)),
        ("nan inf", np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)),
        ("all nonfinite", np.array([np.nan, np.inf], np.float32)),
        ("nan and ints", np.array([np.nan, 1.0, 2.0], np.float32)),
        ("zeros", np.zeros(4, np.float32)),
        ("signed zeros", np.array([[-0.0, 0.0]], np.float32)),
        ("empty 1d", np.zeros(0, np.float32)),
        ("empty 2d", np.zeros((0, 3), np.float32)),
        ("empty 3d", np.zeros((2, 0, 1), np.float32)),
        ("empty int", np.zeros(0, np.int64)),
        ("empty int 2d", np.zeros((2, 0), np.int64)),
        ("empty float64", np.zeros(0, np.float64)),
        ("empty bool", np.zeros(0, bool)),
        ("matrix", n((3, 4)).astype(np.float32)),
        ("matrix wide", n((2, 30)).astype(np.float32)),
        ("3d", n((2, 3, 4))),
        ("4d", n((2, 3, 4, 5)).astype(np.float32)),
        ("5d", n((1, 2, 1, 2, 2)).astype(np.float32)),
        ("long vector wraps", n(100).astype(np.float32) * 1000),
        ("long int vector", np.arange(60) * 1234567),
        ("summarized vector", np.arange(2000)),
        ("summarized matrix", np.arange(2000).reshape(40, 50)),
        ("summarized float", n(2000).astype(np.float16)),
        ("summarized 3d", n((12, 10, 10)).astype(np.float32)),
        ("summarized tall", n((1001, 1)).astype(np.float32)),
        ("summarized wide rows", n((5, 300)).astype(np.float32)),
        ("exactly threshold", n(1000).astype(np.float32)),
        ("negative ints wide", -np.arange(30) * 10**8),
        ("big float64", n((3, 3)) * 1e12),
        ("mixed magnitudes", np.array([1e-3, 5.0, 123.456], np.float32)),
        ("one element matrix", np.array([[2.5]], np.float32)),
    ]
    return out


CASES = _arrays()


@pytest.mark.parametrize("name,arr", CASES, ids=[c[0] for c in CASES])
def test_repr_matches_torch(name: str, arr: np.ndarray) -> None:
    expected = repr(torch.from_numpy(arr.copy()))
    assert repr(lossgrad.from_numpy(arr.copy())) == expected
    assert str(lossgrad.from_numpy(arr.copy())) == str(torch.from_numpy(arr.copy()))


@pytest.mark.parametrize("code", [
    "t.tensor([1., 2.], requires_grad=True)",
    "t.tensor([1., 2.], dtype=t.float64, requires_grad=True)",
    "t.tensor([1., 2.], requires_grad=True) * 2",
    "(t.tensor([1., 2.], requires_grad=True) * 2).sum()",
    "t.nn.functional.mse_loss(t.tensor([1., 2.], requires_grad=True), t.tensor([0., 1.]))",
    "t.tensor([[1., 2.]] * 20, requires_grad=True) + 1",
    "t.zeros(0, 3, requires_grad=True)",
    "t.zeros(0, dtype=t.float64, requires_grad=True)",
    "t.tensor([1e-9, 1.] * 40, dtype=t.float64, requires_grad=True) * 1",
    "t.nn.Parameter(t.tensor([1., 2.]))",
    "t.nn.Parameter(t.tensor([[1., 2.], [3., 4.]], dtype=t.float64))",
    "t.nn.Parameter(t.tensor([1., 2.]), requires_grad=False)",
    "t.nn.Linear(3, 2).weight.shape",
    "t.tensor([1., 2.], requires_grad=True).detach()",
])
def test_repr_with_autograd_suffixes(code: str) -> None:
    reps = []
    for lib in (torch, lossgrad):
        lib.manual_seed(0)
        reps.append(repr(eval(code, {"t": lib})))
    assert reps[1] == reps[0]


@pytest.mark.parametrize("options", [
    {"precision": 2},
    {"precision": 8},
    {"threshold": 5},
    {"edgeitems": 1, "threshold": 5},
    {"edgeitems": 0, "threshold": 5},
    {"linewidth": 40},
    {"sci_mode": True},
    {"sci_mode": False},
    {"profile": "short"},
    {"profile": "full"},
])
def test_repr_under_printoptions(options: dict) -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((4, 6)).astype(np.float32), np.arange(12) * 3,
              np.array([1e-6, 1.0]), rng.standard_normal(20) * 1e4]
    for arr in arrays:
        with torch._tensor_str.printoptions(**options), lossgrad.printoptions(**options):
            expected = repr(torch.from_numpy(arr.copy()))
            got = repr(lossgrad.from_numpy(arr.copy()))
        assert got == expected, f"{options}:\n{got}\n!=\n{expected}"
    assert lossgrad.get_printoptions() == torch._tensor_str.get_printoptions()


def test_set_printoptions_round_trip() -> None:
    try:
        lossgrad.set_printoptions(precision=3)
        torch.set_printoptions(precision=3)
        x = np.array([1.23456, 2.0], np.float32)
        assert repr(lossgrad.from_numpy(x)) == repr(torch.from_numpy(x))
    finally:
        lossgrad.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(lossgrad.tensor([1.23456])) == "tensor([1.2346])"


def test_format_of_scalar_tensor() -> None:
    assert f"{lossgrad.tensor(2.5):.3f}" == f"{torch.tensor(2.5):.3f}"
    assert f"{lossgrad.tensor(3)}" == f"{torch.tensor(3)}"
