"""The primitive differentiable ops, by family.

``bind_methods`` attaches the functionals whose signature starts with the tensor itself as
Tensor methods (``x.exp()``, ``x.sum(1)``, ``x.gather(1, idx)``). The public spellings (Tensor
methods and ``lossgrad.*``) also accept NumPy's keyword names ``axis=`` and ``keepdims=`` for
``dim`` and ``keepdim``, as torch's argument parser does (``with_numpy_names``); lossgrad's own
code calls the ops directly, without that layer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, MutableMapping
from typing import Any

#: torch's ``numpy_compatibility_arg_names`` for the parameters lossgrad's ops have.
_NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim"}
#: Functions torch writes in Python (its parser, and so the aliases, never sees them).
_PYTHON_LEVEL = frozenset({"norm", "split", "unflatten"})


def with_numpy_names(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, also accepting ``axis=`` for ``dim=`` and ``keepdims=`` for ``keepdim=`` (torch's
    aliases); ``fn`` itself when it has neither parameter.

    Example:
        >>> import lossgrad as torch
        >>> torch.ones(2, 3).sum(axis=1, keepdims=True).shape
        torch.Size([2, 1])
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    renames = {alias: name for alias, name in _NUMPY_NAMES.items() if name in params}
    if not renames or fn.__name__ in _PYTHON_LEVEL or any(alias in params for alias in renames):
        return fn
    name = fn.__name__

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not kwargs.keys().isdisjoint(renames):
            for alias, canonical in renames.items():
                if alias in kwargs:
                    if canonical in kwargs:
                        raise TypeError(f"{name}() got multiple values for argument '{canonical}'")
                    kwargs[canonical] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return call


def install_numpy_names(namespace: MutableMapping[str, Any]) -> None:
    """Rebind every op of ``lossgrad.ops`` found in ``namespace`` to its ``with_numpy_names``."""
    for key, value in list(namespace.items()):
        if inspect.isfunction(value) and value.__module__.startswith("lossgrad.ops."):
            namespace[key] = with_numpy_names(value)


_METHODS = {
    "pointwise": (
        "add sub subtract mul multiply div divide true_divide floor_divide remainder pow "
        "float_power neg negative rsub abs absolute sign sgn exp expm1 log log1p sqrt rsqrt "
        "sin cos "
        "tanh sigmoid reciprocal square clamp clip clamp_min clamp_max maximum minimum fmax fmin "
        "eq ne lt le gt ge greater greater_equal less less_equal not_equal equal logical_and "
        "logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not "
        "isnan isinf isfinite isclose allclose floor ceil round trunc"
    ),
    "reduce": (
        "sum nansum mean prod cumsum amax amin max min argmax argmin logsumexp var std norm any "
        "all count_nonzero"
    ),
    "shape": (
        "flatten unflatten squeeze unsqueeze transpose swapaxes swapdims t movedim expand_as "
        "broadcast_to split chunk unbind narrow flip"
    ),
    "index": "gather take_along_dim index_select scatter_add masked_fill sort argsort topk nonzero",
    "linalg": "matmul mm bmm dot outer",
    "activation": "relu softmax log_softmax",
    "elementary": (
        "log10 log2 exp2 tan sinh cosh asin acos atan asinh acosh atanh arcsin arccos arctan "
        "arcsinh arccosh arctanh atan2 arctan2 hypot logaddexp xlogy erf erfc erfinv lgamma "
        "digamma deg2rad rad2deg frac logit sinc lerp addcmul addcdiv nan_to_num positive "
        "signbit fix logaddexp2 copysign fmod ldexp i0 angle isposinf isneginf isreal "
        "nextafter bitwise_left_shift bitwise_right_shift"
    ),
}


def bind_methods(cls: type) -> None:
    import importlib

    for module, names in _METHODS.items():
        mod = importlib.import_module(f"lossgrad.ops.{module}")
        for name in names.split():
            setattr(cls, name, with_numpy_names(getattr(mod, name)))
    where = importlib.import_module("lossgrad.ops.pointwise").where

    def _where(self: Any, condition: Any, other: Any) -> Any:
        return where(condition, self, other)

    cls.where = _where  # type: ignore[attr-defined]
    polygamma = importlib.import_module("lossgrad.ops.elementary").polygamma

    def _polygamma(self: Any, n: int) -> Any:
        return polygamma(n, self)

    cls.polygamma = _polygamma  # type: ignore[attr-defined]
