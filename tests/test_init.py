"""nn.init: torch's gains, fans, bounds and standard deviations (NumPy's random stream).

lossgrad draws from NumPy's generator, so samples differ from torch's; what must agree is the
distribution. Each random initialiser is run on a large tensor in both libraries and the sample
range and standard deviation are compared with each other and with torch's formula.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import lossgrad
from parity import same_signature

LIBS = (torch, lossgrad)
SHAPES = [(300, 200), (64, 32, 3, 3)]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _sample(lib: Any, fn: Any, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    t = lib.empty(*shape, dtype=getattr(lib, dtype))
    out = fn(lib.nn.init, t)
    assert out is t
    return t.numpy().astype(np.float64)


# (name, call, kind, expected scale from torch's formula given the shape):
# kind "uniform" -> scale is the bound b of U(-b, b); "normal" -> scale is the std of N(0, std^2)
CASES = {
    "uniform": (lambda I, t: I.uniform_(t, -0.3, 0.3), "uniform", lambda s: 0.3),
    "normal": (lambda I, t: I.normal_(t, 0.0, 0.02), "normal", lambda s: 0.02),
    "xavier_uniform": (
        lambda I, t: I.xavier_uniform_(t),
        "uniform",
        lambda s: math.sqrt(6.0 / sum(_fans(s))),
    ),
    "xavier_uniform_gain": (
        lambda I, t: I.xavier_uniform_(t, gain=I.calculate_gain("tanh")),
        "uniform",
        lambda s: 5 / 3 * math.sqrt(6.0 / sum(_fans(s))),
    ),
    "xavier_normal": (
        lambda I, t: I.xavier_normal_(t, gain=2.0),
        "normal",
        lambda s: 2.0 * math.sqrt(2.0 / sum(_fans(s))),
    ),
    "kaiming_uniform": (
        lambda I, t: I.kaiming_uniform_(t),
        "uniform",
        # a=0 means leaky_relu with slope 0: gain sqrt(2)
        lambda s: math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(_fans(s)[0]),
    ),
    "kaiming_uniform_a5": (
        lambda I, t: I.kaiming_uniform_(t, a=math.sqrt(5)),
        "uniform",
        lambda s: 1 / math.sqrt(_fans(s)[0]),
    ),
    "kaiming_uniform_relu_out": (
        lambda I, t: I.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
        "uniform",
        lambda s: math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(_fans(s)[1]),
    ),
    "kaiming_normal": (
        lambda I, t: I.kaiming_normal_(t),
        "normal",
        lambda s: math.sqrt(2.0) / math.sqrt(_fans(s)[0]),
    ),
    "kaiming_normal_fan_out_upper": (
        lambda I, t: I.kaiming_normal_(t, a=0.2, mode="FAN_OUT"),
        "normal",
        lambda s: math.sqrt(2.0 / (1 + 0.2**2)) / math.sqrt(_fans(s)[1]),
    ),
    "kaiming_normal_selu": (
        lambda I, t: I.kaiming_normal_(t, nonlinearity="selu"),
        "normal",
        lambda s: 0.75 / math.sqrt(_fans(s)[0]),
    ),
}


def _stats(x: np.ndarray) -> tuple[float, float, float]:
    return float(np.abs(x).max()), float(x.std()), float(x.mean())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", list(CASES))
def test_distribution_matches_torch_formula(case: str, shape: tuple[int, ...]) -> None:
    fn, kind, scale_of = CASES[case]
    scale = scale_of(shape)
    torch.manual_seed(0)
    lossgrad.manual_seed(0)
    th_max, th_std, _ = _stats(_sample(torch, fn, shape))
    lg = _sample(lossgrad, fn, shape)
    lg_max, lg_std, lg_mean = _stats(lg)
    n = lg.size
    if kind == "uniform":
        assert lg_max <= scale * (1 + 1e-6) and th_max <= scale * (1 + 1e-6)
        assert lg_max > scale * (1 - 20 / n)  # n samples of U(-b, b) come within ~b/n of b
        expected_std = scale / math.sqrt(3)
        assert abs(lg_max - th_max) <= scale * 20 / n
    else:
        expected_std = scale
        assert lg_max > 3 * scale  # tails are there (P(|z| > 3) = 0.27%)
    assert abs(lg_std - expected_std) < 0.02 * expected_std
    assert abs(th_std - expected_std) < 0.02 * expected_std
    assert abs(lg_mean) < 5 * expected_std / math.sqrt(n)


def test_calculate_gain_matches_torch() -> None:
    cases = [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("selu", None),
        ("conv_transpose3d", None),
    ]
    for name, param in cases:
        th = torch.nn.init.calculate_gain(name, param)
        lg = lossgrad.nn.init.calculate_gain(name, param)
        assert lg == th and type(lg) is type(th), name


@pytest.mark.parametrize("args", [("gelu", None), ("leaky_relu", True), ("leaky_relu", "0.1")])
def test_calculate_gain_errors_match_torch(args: tuple[str, Any]) -> None:
    msgs = []
    for lib in LIBS:
        with pytest.raises(ValueError) as info:  # noqa: PT011 - the message is compared
            lib.nn.init.calculate_gain(*args)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (6, 2, 3, 5), (0, 3)])
def test_fans_match_torch(shape: tuple[int, ...]) -> None:
    fans = [lib.nn.init._calculate_fan_in_and_fan_out(lib.empty(*shape)) for lib in LIBS]
    assert fans[0] == fans[1] == _fans(shape)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.init.xavier_uniform_(lib.empty(5)),
        lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3, 2), mode="fan_avg"),
        lambda lib: lib.nn.init.eye_(lib.empty(2, 2, 2)),
        lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(4), nonlinearity="relu"),
    ],
)
def test_errors_match_torch(call: Any) -> None:
    errors = []
    for lib in LIBS:
        with pytest.raises(Exception) as info:  # noqa: B017, PT011 - compared below
            call(lib)
        errors.append(info.value)
    assert type(errors[1]) is type(errors[0]) and str(errors[1]) == str(errors[0])


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, t: lib.nn.init.constant_(t, 0.25),
        lambda lib, t: lib.nn.init.zeros_(t),
        lambda lib, t: lib.nn.init.ones_(t),
        lambda lib, t: lib.nn.init.eye_(t),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_deterministic_initialisers_match_torch(call: Any, dtype: str) -> None:
    out = []
    for lib in LIBS:
        p = lib.nn.Parameter(lib.empty(3, 4, dtype=getattr(lib, dtype)))
        res = call(lib, p)
        out.append((res is p, p.tolist(), str(p.dtype), p.requires_grad, p.grad_fn is None))
    assert out[1] == out[0]


WARNING_CALLS = {
    "kaiming_uniform_empty": lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(0, 3)),
    "kaiming_normal_empty": lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3, 0)),
    "trunc_far_mean": lambda lib: lib.nn.init.trunc_normal_(
        lib.empty(10), mean=5.0, std=1.0, a=-1.0, b=1.0
    ),
    "deprecated_uniform": lambda lib: lib.nn.init.uniform(lib.empty(3)),
    "deprecated_xavier": lambda lib: lib.nn.init.xavier_normal(lib.empty(3, 3)),
    "none": lambda lib: lib.nn.init.normal_(lib.empty(3)),
}


@pytest.mark.parametrize("case", list(WARNING_CALLS))
def test_warnings_match_torch(case: str) -> None:
    out = []
    for lib in LIBS:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            WARNING_CALLS[case](lib)
        out.append([(x.category, str(x.message)) for x in w])
    assert out[1] == out[0]


def test_initialisers_work_on_parameters_without_recording() -> None:
    p = lossgrad.nn.Parameter(lossgrad.empty(20, 10))
    version = p._version
    for fn in (
        lossgrad.nn.init.kaiming_uniform_,
        lossgrad.nn.init.xavier_normal_,
        lossgrad.nn.init.trunc_normal_,
        lossgrad.nn.init.uniform_,
        lossgrad.nn.init.normal_,
    ):
        assert fn(p) is p
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version > version
    assert lossgrad.is_grad_enabled()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype: str) -> None:
    t = lossgrad.empty(50, 40, dtype=getattr(lossgrad, dtype))
    lossgrad.nn.init.kaiming_normal_(t)
    assert t.numpy().dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [
        (0.5, 1.0, -1.0, 1.5),
        (0.0, 0.5, 0.2, 0.4),
        (5.0, 1.0, -1.0, 1.0),
    ],  # normal / uniform samplers
)
def test_trunc_normal_bounds_and_moments(mean: float, std: float, a: float, b: float) -> None:
    """All samples in [a, b]; mean and std equal the truncated normal's closed form."""
    lossgrad.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the last case warns: mean far outside [a, b]
        t = lossgrad.empty(200, 300, dtype=lossgrad.float64)
        x = lossgrad.nn.init.trunc_normal_(t, mean, std, a, b).numpy()
    assert x.min() >= a and x.max() <= b
    alpha, beta = (a - mean) / std, (b - mean) / std
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    exp_mean = mean + std * (phi(alpha) - phi(beta)) / z
    exp_var = std**2 * (
        1 + (alpha * phi(alpha) - beta * phi(beta)) / z - ((phi(alpha) - phi(beta)) / z) ** 2
    )
    assert abs(x.mean() - exp_mean) < 0.01 * (b - a)
    assert abs(x.std() - math.sqrt(exp_var)) < 0.01 * (b - a)


def test_generator_and_manual_seed_make_draws_reproducible() -> None:
    def draw(**kw: Any) -> np.ndarray:
        return lossgrad.nn.init.kaiming_uniform_(lossgrad.empty(4, 5), **kw).numpy().copy()

    g1, g2 = lossgrad.Generator().manual_seed(3), lossgrad.Generator().manual_seed(3)
    np.testing.assert_array_equal(draw(generator=g1), draw(generator=g2))
    lossgrad.manual_seed(7)
    first = draw()
    lossgrad.manual_seed(7)
    np.testing.assert_array_equal(draw(), first)
    assert not np.array_equal(draw(), first)


@pytest.mark.parametrize(
    "name",
    [
        "uniform_",
        "normal_",
        "trunc_normal_",
        "constant_",
        "ones_",
        "zeros_",
        "eye_",
        "xavier_uniform_",
        "xavier_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "calculate_gain",
    ],
)
def test_signature(name: str) -> None:
    same_signature(getattr(lossgrad.nn.init, name), getattr(torch.nn.init, name))
