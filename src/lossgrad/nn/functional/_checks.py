"""Validation helpers shared by the losses: torch's exception classes, messages that show the
offending shape or value."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lossgrad._dtype import scalar_type_name
from lossgrad._tensor import Tensor


def warn_if_broadcast(input: Tensor, target: Tensor) -> None:
    """l1/mse/smooth_l1/huber warn when the target size differs from the input size."""
    if target._data.shape != input._data.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )


def check_same_size(input: Tensor, target: Tensor) -> None:
    """BCE-style losses: ValueError when target and input sizes differ."""
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )


def check_tensor(value: Any, name: str) -> Tensor:
    """TypeError unless ``value`` is a Tensor (losses take tensors, as in torch)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(value).__name__}")
    return value


def check_tensor_arguments(fn: str, **arguments: Any) -> None:
    """TypeError in the words of torch's argument parser for the first argument (in order, from
    position 1) that is not a Tensor (a Python float, a list, None)."""
    for position, (name, value) in enumerate(arguments.items(), start=1):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{fn}(): argument '{name}' (position {position}) must be Tensor, "
                f"not {type(value).__name__}"
            )


def broadcast_shape(*tensors: Tensor | None) -> tuple[int, ...]:
    """The shape ``tensors`` broadcast to (None skipped; at least one given), met left to right
    as torch's ops meet them; RuntimeError naming the first clashing sizes when they do not
    broadcast. Equal shapes cost no NumPy call."""
    from lossgrad.ops._common import broadcast_error

    shape, *others = [t._data.shape for t in tensors if t is not None]
    for other in others:
        if other != shape:
            try:
                shape = np.broadcast_shapes(shape, other)
            except ValueError:
                raise broadcast_error(shape, other) from None
    return shape


def broadcast_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """torch's ``broadcast_tensors(input, target)``: both expanded (no copy) to the common
    shape; RuntimeError naming the clashing sizes when they do not broadcast."""
    if input._data.shape == target._data.shape:
        return input, target
    from lossgrad.ops.shape import expand

    shape = broadcast_shape(input, target)
    return expand(input, shape), expand(target, shape)


def check_same_shapes(fn: str, **tensors: Tensor) -> None:
    """ValueError naming the first of ``tensors`` (in order) whose shape is not the first one's,
    with both shapes: inputs that must pair up element by element, which broadcasting would
    silently misalign or fail on with a message naming no argument."""
    (first_name, first), *others = tensors.items()
    for name, value in others:
        if tuple(value.shape) != tuple(first.shape):
            raise ValueError(
                f"{fn}: {name} must have the shape of {first_name} {tuple(first.shape)}, got "
                f"{tuple(value.shape)}"
            )


def check_weight_size(weight: Tensor, input: Tensor) -> None:
    """The functional-only ``weight`` of l1/mse/huber must have exactly ``input.size()``."""
    if weight.shape != input.shape:
        raise ValueError(
            f"Weights and input must have the same size. Got weight of size {weight.size()} "
            f"and input of size {input.size()}."
        )


def check_float(value: Any, fn: str, name: str, position: int | None) -> float:
    """A float argument of a torch kernel: TypeError (torch's wording) unless it is a number;
    ``position`` None for a keyword-only argument (torch's message then gives none)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        where = "" if position is None else f" (position {position})"
        raise TypeError(
            f"{fn}(): argument '{name}'{where} must be float, not {type(value).__name__}"
        )
    return float(value)


def check_scalar_type(t: Tensor, expected: Any) -> None:
    """RuntimeError ``expected scalar type Long but found Int`` unless ``t`` has that dtype."""
    if t._data.dtype != np.dtype(expected):
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(expected)} but found "
            f"{scalar_type_name(t._data.dtype)}"
        )


def check_target_size(input: Tensor, target: Tensor) -> None:
    """ValueError (the logistic losses' wording) unless ``target`` has ``input``'s size."""
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )


def check_float_kernel(dtype: np.dtype, kernel: str) -> None:
    """NotImplementedError, as torch's dispatch, when ``kernel`` gets a non-float ``dtype``."""
    if dtype.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{scalar_type_name(dtype)}'")


def check_float_result(dtype: np.dtype, shown: np.dtype) -> None:
    """RuntimeError, torch's wording, when a float result must be written into ``shown``
    (unless the result ``dtype`` and ``shown`` are floats)."""
    if dtype.kind != "f" or shown.kind != "f":
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {scalar_type_name(shown)}"
        )


def check_same_dtype(input: Tensor, target: Tensor) -> None:
    """RuntimeError, torch's wording (``Found dtype Double but expected Float``), unless
    ``target`` has ``input``'s dtype (binary_cross_entropy does not promote)."""
    if target._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"Found dtype {scalar_type_name(target._data.dtype)} but expected "
            f"{scalar_type_name(input._data.dtype)}"
        )


def check_not_integral(fn: str, input: Tensor, target: Tensor) -> None:
    """RuntimeError, torch's wording, when ``input`` or ``target`` is not a float tensor (a
    loss such as kl_div that refuses integer and bool operands outright)."""
    if input._data.dtype.kind != "f" or target._data.dtype.kind != "f":
        got = f"(got input {input.dtype} and target {target.dtype})"
        raise RuntimeError(f"{fn}: Integral inputs not supported {got}.")


def check_unit_interval(t: Tensor, name: str) -> None:
    """torch's RuntimeError, showing the first bad value, unless ``t`` lies in ``[0, 1]`` (NaN
    does not). For float32/64 first one pass over the bits as unsigned integers, which are
    ordered like the floats from +0 to 1 and above 1's bits for anything negative (-0.0
    included), NaN or above 1; the two-pass test only when that one fails."""
    data = t._data
    if data.dtype.char in "fd" and data.size:
        bits = data.view(np.uint32 if data.dtype.char == "f" else np.uint64)
        if bits.max() <= bits.dtype.type(data.dtype.type(1).view(bits.dtype)):
            return
    if data.size and not (data.min() >= 0 and data.max() <= 1):
        bad = data[~((data >= 0) & (data <= 1))].flat[0]
        raise RuntimeError(f"all elements of {name} should be between 0 and 1 (found {bad!r})")


def number_as_tensor(value: Any, like: Tensor, operation: str) -> Tensor:
    """A Python number (torch's composites take one as a scalar of ``like``'s dtype) as a 0-d
    tensor; ``value`` itself if it is a Tensor; else Python's TypeError for ``operation``, the
    first op torch's composite applies to it, with ``{}`` in its place (``"Tensor - {}"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Tensor._make(np.asarray(value, like._data.dtype))
    if not isinstance(value, Tensor):
        left, operator, right = operation.format(type(value).__name__).split()
        raise TypeError(f"unsupported operand type(s) for {operator}: '{left}' and '{right}'")
    return value


def check_threshold(value: float, fn: str, name: str, zero_allowed: bool) -> None:
    """torch's RuntimeError for a negative (or, unless ``zero_allowed``, zero) threshold such as
    smooth_l1's ``beta`` or huber's ``delta``."""
    if value < 0 or (value == 0 and not zero_allowed):
        kind = "negative" if zero_allowed else "non-positive"
        raise RuntimeError(f"{fn} does not support {kind} values for {name}, got {name}={value}.")


def indices_within(indices: np.ndarray, count: int, lowest: int = 0) -> bool:
    """Whether every int64 index lies in ``[lowest, count)``. From 0, in one pass: read as
    unsigned integers, the negative ones are the largest; from another bound, a minimum and a
    maximum (no shifted copy of the indices: for multilabel_margin's ``(N, C)`` int64 targets
    that copy was the largest array of the call). A few indices (a small batch's targets) are
    scanned in Python: a NumPy reduction's fixed cost is that of a few dozen Python steps."""
    if indices.size <= _FEW_INDICES:
        values = indices.reshape(-1).tolist()
        return not values or (min(values) >= lowest and max(values) < count)
    if lowest == 0:
        return bool(np.maximum.reduce(indices.reshape(-1).view(np.uint64)) < count)
    return bool(indices.min() >= lowest and indices.max() < count)


#: At most this many indices, `indices_within` scans a Python list (1.0 against 1.5 us at 16,
#: even at 32).
_FEW_INDICES = 24
