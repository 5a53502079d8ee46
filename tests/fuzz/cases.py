"""Hypothesis strategies for the fuzzer: one random case of one loss.

Hypothesis draws the structure (loss, dtype, shapes, broadcasting, views, keyword arguments,
which edge values and which bad input); a drawn seed fills the arrays with NumPy, so a case is
cheap to build and exactly reproducible from what Hypothesis prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

DTYPES = (np.float16, np.float32, np.float64)
# 0, -0.0, huge, float32 max region, float64 max region, subnormals, infinities, NaN, kinks.
EDGES = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e30,
    -1e30,
    1e38,
    -1e38,
    1.7e308,
    -1.7e308,
    5e-324,
    -5e-324,
    1e-45,
    1e-40,
    6e-8,
    np.inf,
    -np.inf,
    np.nan,
    0.5,
    2.0,
    1e8,
    -1e8,
    40000.0,
)
REDUCTIONS = ("none", "mean", "sum")


@dataclass
class Arr:
    """A NumPy array handed to both libraries (as a possibly non-contiguous view)."""

    base: np.ndarray
    view: str = "none"  # "none" | "step" (every other element of the last axis) | "transpose"
    grad: bool = False

    def make(self, lib: Any) -> Any:
        array = self.base.copy()
        if self.view == "step":
            array = array[..., ::2]
        elif self.view == "transpose":
            array = array.T
        if lib.__name__ == "torch":
            tensor = lib.from_numpy(array) if array.ndim else lib.tensor(array.copy())
        else:
            tensor = lib.from_numpy(array) if array.ndim else lib.tensor(array.copy())
        if self.grad:
            tensor.requires_grad_(True)
        return tensor

    @property
    def shape(self) -> tuple[int, ...]:
        if self.view == "step":
            return self.base[..., ::2].shape
        if self.view == "transpose":
            return self.base.T.shape
        return self.base.shape


@dataclass
class Case:
    loss: str
    args: list[Any]
    kwargs: dict[str, Any]
    dtype: Any
    bad: str = ""  # which bad input was injected, if any
    reference64: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        def show(a: Any) -> str:
            if isinstance(a, Arr):
                with np.printoptions(threshold=40, precision=4):
                    return f"Arr({a.base.dtype}{list(a.shape)} view={a.view} grad={a.grad}: {a.base!r})"
            return repr(a)

        args = ", ".join(show(a) for a in self.args)
        kwargs = ", ".join(f"{k}={show(v)}" for k, v in self.kwargs.items())
        return f"{self.loss}({args}; {kwargs}) bad={self.bad or '-'}"


def _values(
    rng: np.random.Generator, shape: tuple[int, ...], edge_rate: float, scale: float
) -> np.ndarray:
    values = np.asarray(rng.standard_normal(shape) * scale)
    if edge_rate and values.size:
        mask = rng.random(shape) < edge_rate
        values = np.where(mask, rng.choice(np.array(EDGES), size=shape), values)
    return values


def _cast(values: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(values).astype(dtype)


@st.composite
def _shape(draw: Any, min_dims: int = 0, max_dims: int = 4, max_side: int = 4) -> tuple[int, ...]:
    dims = draw(st.integers(min_dims, max_dims))
    sides = (
        st.one_of(st.integers(1, max_side), st.just(0))
        if draw(st.booleans())
        else st.integers(1, max_side)
    )
    return tuple(draw(sides) for _ in range(dims))


@st.composite
def _broadcast_partner(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Mostly the same shape; sometimes a broadcastable one; rarely a bad one."""
    kind = draw(st.sampled_from(["same"] * 6 + ["ones", "drop", "bad"]))
    if kind == "same" or not shape:
        return shape
    if kind == "ones":
        return tuple(1 if draw(st.booleans()) else side for side in shape)
    if kind == "drop":
        return shape[draw(st.integers(1, len(shape))) :]
    return shape[:-1] + (shape[-1] + 2,)


def _array(
    draw: Any,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dtype: Any,
    *,
    grad: bool,
    edge_rate: float,
    scale: float = 2.0,
    low: float | None = None,
    high: float | None = None,
) -> Arr:
    view = draw(st.sampled_from(["none", "none", "step", "transpose"])) if shape else "none"
    base_shape = (
        shape[:-1] + (2 * shape[-1],)
        if view == "step"
        else shape[::-1]
        if view == "transpose"
        else shape
    )
    if low is not None:
        values = np.asarray(rng.uniform(low, high, base_shape))
        if edge_rate and values.size:
            mask = rng.random(base_shape) < edge_rate
            edges = np.array([low, high, (low + high) / 2, 1e-45, np.nan])
            values = np.where(mask, rng.choice(edges, size=base_shape), values)
    else:
        values = _values(rng, base_shape, edge_rate, scale)
    return Arr(_cast(values, dtype), view, grad and np.dtype(dtype).kind == "f")


def _labels(
    rng: np.random.Generator, shape: tuple[int, ...], classes: int, ignore: bool
) -> np.ndarray:
    labels = rng.integers(0, max(classes, 1), shape).astype(np.int64)
    if ignore and labels.size:
        labels[rng.random(shape) < 0.2] = -100
    return labels


# -- one strategy per family ----------------------------------------------------------------------

_POINTWISE = {
    "l1_loss": {},
    "mse_loss": {},
    "smooth_l1_loss": {"beta": st.sampled_from([1.0, 0.5, 0.0, 1e-30, 2.0])},
    "huber_loss": {"delta": st.sampled_from([1.0, 0.5, 2.0, 1e-3])},
    "soft_margin_loss": {},
    "hinge_embedding_loss": {"margin": st.sampled_from([1.0, 0.0, 2.5])},
    "kl_div": {"log_target": st.booleans()},
    "poisson_nll_loss": {"log_input": st.booleans(), "full": st.booleans()},
    "binary_cross_entropy": {},
    "binary_cross_entropy_with_logits": {},
    "sigmoid_focal_loss": {
        "alpha": st.sampled_from([0.25, -1.0, 0.5]),
        "gamma": st.sampled_from([2.0, 0.0, 1.5]),
    },
}
_TARGETS = {
    "soft_margin_loss": "sign",
    "hinge_embedding_loss": "sign_or_zero",
    "binary_cross_entropy": "unit",
    "binary_cross_entropy_with_logits": "unit",
    "sigmoid_focal_loss": "unit",
    "poisson_nll_loss": "count",
}


def _target_values(
    rng: np.random.Generator, kind: str | None, shape: tuple[int, ...]
) -> np.ndarray | None:
    if kind == "sign":
        return rng.choice([-1.0, 1.0], shape)
    if kind == "sign_or_zero":
        return rng.choice([-1.0, 1.0, 1.0, -1.0, 0.0, 0.5], shape)
    if kind == "unit":
        return np.where(rng.random(shape) < 0.5, rng.integers(0, 2, shape), rng.random(shape))
    if kind == "count":
        return rng.integers(0, 5, shape).astype(np.float64)
    return None


@st.composite
def pointwise_case(
    draw: Any, loss: str, rng: np.random.Generator, dtype: Any, edge_rate: float
) -> Case:
    shape = draw(_shape())
    target_shape = draw(_broadcast_partner(shape))
    x = _array(
        draw,
        rng,
        shape,
        dtype,
        grad=True,
        edge_rate=edge_rate,
        **({"low": 0.0, "high": 1.0} if loss == "binary_cross_entropy" else {}),
    )
    y = _array(draw, rng, target_shape, dtype, grad=draw(st.booleans()), edge_rate=edge_rate / 2)
    special = _target_values(rng, _TARGETS.get(loss), y.base.shape)
    if special is not None:
        y.base = _cast(special, dtype)
    kwargs = {name: draw(strategy) for name, strategy in _POINTWISE[loss].items()}
    kwargs["reduction"] = draw(
        st.sampled_from(REDUCTIONS + (("batchmean",) if loss == "kl_div" else ()))
    )
    if loss in ("binary_cross_entropy", "binary_cross_entropy_with_logits") and draw(st.booleans()):
        kwargs["weight"] = _array(
            draw, rng, draw(_broadcast_partner(shape)), dtype, grad=False, edge_rate=0.0
        )
    if loss == "binary_cross_entropy_with_logits" and shape and draw(st.booleans()):
        kwargs["pos_weight"] = _array(draw, rng, shape[-1:], dtype, grad=False, edge_rate=0.0)
    return Case(loss, [x, y], kwargs, dtype)


@st.composite
def gaussian_nll_case(draw: Any, rng: np.random.Generator, dtype: Any, edge_rate: float) -> Case:
    shape = draw(_shape(min_dims=1))
    x = _array(draw, rng, shape, dtype, grad=True, edge_rate=edge_rate)
    y = _array(draw, rng, shape, dtype, grad=draw(st.booleans()), edge_rate=edge_rate / 2)
    var_shape = draw(st.sampled_from([shape, shape[:-1] + (1,), shape[:-1]]))
    var = _array(
        draw, rng, var_shape, dtype, grad=draw(st.booleans()), edge_rate=0.0, low=0.01, high=3.0
    )
    kwargs = {
        "full": draw(st.booleans()),
        "eps": draw(st.sampled_from([1e-6, 1e-2])),
        "reduction": draw(st.sampled_from(REDUCTIONS)),
    }
    return Case("gaussian_nll_loss", [x, y, var], kwargs, dtype)


@st.composite
def pair_case(draw: Any, loss: str, rng: np.random.Generator, dtype: Any, edge_rate: float) -> Case:
    """margin_ranking (x1, x2, y) and cosine_embedding ((N, D) pairs, y of N)."""
    if loss == "margin_ranking_loss":
        shape = draw(_shape(max_dims=2))
        y_shape = shape
    else:
        shape = draw(
            st.sampled_from(
                [(draw(st.integers(0, 4)), draw(st.integers(1, 4))), (draw(st.integers(1, 4)),)]
            )
        )
        y_shape = shape[:1] if len(shape) == 2 else ()
    x1 = _array(draw, rng, shape, dtype, grad=True, edge_rate=edge_rate)
    x2 = _array(draw, rng, draw(_broadcast_partner(shape)), dtype, grad=True, edge_rate=edge_rate)
    y = Arr(_cast(rng.choice([-1.0, 1.0], y_shape), dtype))
    kwargs = {
        "margin": draw(st.sampled_from([0.0, 0.5, -0.2])),
        "reduction": draw(st.sampled_from(REDUCTIONS)),
    }
    return Case(loss, [x1, x2, y], kwargs, dtype)


@st.composite
def triplet_case(
    draw: Any, loss: str, rng: np.random.Generator, dtype: Any, edge_rate: float
) -> Case:
    shape = draw(
        st.sampled_from(
            [(draw(st.integers(0, 4)), draw(st.integers(1, 4))), (draw(st.integers(1, 4)),)]
        )
    )
    anchors = [_array(draw, rng, shape, dtype, grad=True, edge_rate=edge_rate) for _ in range(3)]
    kwargs: dict[str, Any] = {
        "margin": draw(st.sampled_from([1.0, 0.0, 0.3])),
        "swap": draw(st.booleans()),
        "reduction": draw(st.sampled_from(REDUCTIONS)),
    }
    if loss == "triplet_margin_loss":
        kwargs["p"] = draw(st.sampled_from([2.0, 1.0, 3.0]))
        kwargs["eps"] = draw(st.sampled_from([1e-6, 0.0]))
    return Case(loss, anchors, kwargs, dtype)


@st.composite
def class_case(
    draw: Any, loss: str, rng: np.random.Generator, dtype: Any, edge_rate: float
) -> Case:
    """cross_entropy, nll_loss, focal_loss, multi_margin_loss, multilabel_margin_loss,
    multilabel_soft_margin_loss."""
    classes = draw(st.integers(1, 5))
    batch = draw(st.integers(0, 4))
    spatial = (
        draw(_shape(max_dims=2, max_side=3))
        if loss in ("cross_entropy", "nll_loss", "focal_loss")
        else ()
    )
    shape = draw(st.sampled_from([(batch, classes) + spatial, (classes,)]))
    x = _array(draw, rng, shape, dtype, grad=True, edge_rate=edge_rate)
    kwargs: dict[str, Any] = {"reduction": draw(st.sampled_from(REDUCTIONS))}
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if loss in ("cross_entropy", "nll_loss", "focal_loss", "multi_margin_loss"):
        if loss in ("cross_entropy", "focal_loss") and draw(st.booleans()):
            probs = rng.random(shape)
            y = Arr(_cast(probs / probs.sum(axis=1 if len(shape) > 1 else 0, keepdims=True), dtype))
        else:
            y = Arr(
                _labels(
                    rng, target_shape, classes, loss != "multi_margin_loss" and draw(st.booleans())
                )
            )
        if draw(st.booleans()):
            kwargs["weight"] = _array(
                draw, rng, (classes,), dtype, grad=False, edge_rate=0.0, low=0.1, high=2.0
            )
        if loss == "cross_entropy":
            kwargs["label_smoothing"] = draw(st.sampled_from([0.0, 0.0, 0.1]))
        if loss == "focal_loss":
            kwargs["gamma"] = draw(st.sampled_from([0.0, 2.0, 0.5]))
        if loss == "multi_margin_loss":
            kwargs["p"] = draw(st.sampled_from([1, 2]))
            kwargs["margin"] = draw(st.sampled_from([1.0, 0.5]))
    elif loss == "multilabel_margin_loss":
        labels = rng.integers(-1, classes, shape).astype(np.int64)
        y = Arr(labels)
    else:
        y = Arr(_cast(rng.integers(0, 2, draw(_broadcast_partner(shape))), dtype))
        if draw(st.booleans()):
            kwargs["weight"] = _array(
                draw, rng, shape[-1:], dtype, grad=False, edge_rate=0.0, low=0.1, high=2.0
            )
    return Case(loss, [x, y], kwargs, dtype)


@st.composite
def ctc_case(draw: Any, rng: np.random.Generator, dtype: Any, edge_rate: float) -> Case:
    dtype = np.float64 if dtype == np.float16 else dtype
    steps, batch, classes = (
        draw(st.integers(1, 6)),
        draw(st.integers(1, 3)),
        draw(st.integers(2, 4)),
    )
    logits = rng.standard_normal((steps, batch, classes))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    input_lengths = rng.integers(0, steps + 1, batch)
    for n, length in enumerate(input_lengths):  # padding frames may hold anything
        if draw(st.booleans()):
            log_probs[length:, n] = rng.choice([np.nan, np.inf, -np.inf, -1e30], 1)
    max_target = draw(st.integers(0, 4))
    targets = rng.integers(1, classes, (batch, max_target)).astype(np.int64)
    target_lengths = rng.integers(0, max_target + 1, batch).astype(np.int64)
    x = Arr(_cast(log_probs, dtype), "none", True)
    kwargs = {"reduction": draw(st.sampled_from(REDUCTIONS)), "zero_infinity": draw(st.booleans())}
    return Case(
        "ctc_loss",
        [x, Arr(targets), Arr(input_lengths.astype(np.int64)), Arr(target_lengths)],
        kwargs,
        dtype,
    )


LOSSES = tuple(_POINTWISE) + (
    "gaussian_nll_loss",
    "margin_ranking_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "cross_entropy",
    "nll_loss",
    "focal_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "ctc_loss",
)


def _inject_bad(draw: Any, case: Case) -> Case:
    """Replace one argument by a bad one: a Python float, None, an int tensor, a bad reduction."""
    kind = draw(st.sampled_from(["float", "none", "int_dtype", "reduction", "list"]))
    case.bad = kind
    if kind == "reduction":
        case.kwargs["reduction"] = "avg"
    elif kind == "int_dtype":
        first = case.args[0]
        finite = np.nan_to_num(first.base.astype(np.float64), posinf=0.0, neginf=0.0)
        case.args[0] = Arr(np.clip(finite, -100, 100).astype(np.int64))
    else:
        position = draw(st.integers(0, len(case.args) - 1))
        case.args[position] = {"float": 0.5, "none": None, "list": [0.5, 1.0]}[kind]
    return case


@st.composite
def any_case(draw: Any, losses: tuple[str, ...] = LOSSES) -> Case:
    loss = draw(st.sampled_from(losses))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    edge_rate = draw(st.sampled_from([0.0, 0.0, 0.1, 0.4]))
    if loss in _POINTWISE:
        case = draw(pointwise_case(loss, rng, dtype, edge_rate))
    elif loss == "gaussian_nll_loss":
        case = draw(gaussian_nll_case(rng, dtype, edge_rate))
    elif loss in ("margin_ranking_loss", "cosine_embedding_loss"):
        case = draw(pair_case(loss, rng, dtype, edge_rate))
    elif loss.startswith("triplet"):
        case = draw(triplet_case(loss, rng, dtype, edge_rate))
    elif loss == "ctc_loss":
        case = draw(ctc_case(rng, dtype, edge_rate))
    else:
        case = draw(class_case(loss, rng, dtype, edge_rate))
    if draw(st.integers(0, 9)) == 0:
        case = _inject_bad(draw, case)
    return case
