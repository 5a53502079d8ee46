# ruff: noqa: F401  (this module re-exports the public API)
"""lossgrad: PyTorch's loss functions, numbers and API on a NumPy autograd engine.

import lossgrad as torch
import lossgrad.nn as nn
"""

from __future__ import annotations

import builtins

from lossgrad import accelerator, autograd, backends, cuda, distributed, nn, optim  # noqa: E402  (after Tensor exists)
from lossgrad._device import device, get_default_device, set_default_device
from lossgrad._dtype import (
    bool,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from lossgrad._factories import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from lossgrad._random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from lossgrad._tensor import Size, Tensor
from lossgrad._tensor_str import get_printoptions, printoptions, set_printoptions
from lossgrad.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from lossgrad.ops.activation import log_softmax, relu, softmax
from lossgrad.ops.activation import logsigmoid as _logsigmoid
from lossgrad.ops.cdist import cdist
from lossgrad.ops.cumulative import logcumsumexp
from lossgrad.ops.elementary import (
    acos,
    acosh,
    addcdiv,
    addcmul,
    angle,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bitwise_left_shift,
    bitwise_right_shift,
    copysign,
    cosh,
    deg2rad,
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    fix,
    fmod,
    frac,
    hypot,
    i0,
    isneginf,
    isposinf,
    isreal,
    ldexp,
    lerp,
    lgamma,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logit,
    nan_to_num,
    nextafter,
    polygamma,
    positive,
    rad2deg,
    real,
    signbit,
    sinc,
    sinh,
    tan,
    xlogy,
)
from lossgrad.ops.index import (
    argsort,
    gather,
    index_select,
    masked_fill,
    nonzero,
    scatter_add,
    sort,
    take_along_dim,
    topk,
)
from lossgrad.ops.linalg import bmm, dot, matmul, mm, outer
from lossgrad.ops.pointwise import (
    abs,
    absolute,
    add,
    allclose,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    clone,
    cos,
    div,
    divide,
    eq,
    equal,
    exp,
    expm1,
    float_power,
    floor,
    floor_divide,
    fmax,
    fmin,
    ge,
    greater,
    greater_equal,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    multiply,
    ne,
    neg,
    negative,
    not_equal,
    pow,
    reciprocal,
    remainder,
    round,
    rsqrt,
    rsub,
    sgn,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    subtract,
    tanh,
    true_divide,
    trunc,
    where,
)
from lossgrad.ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    count_nonzero,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    nansum,
    norm,
    prod,
    std,
    sum,
    var,
)
from lossgrad.ops.shape import (
    broadcast_tensors,
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    flatten,
    flip,
    movedim,
    narrow,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    swapdims,
    t,
    tile,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
)

__version__ = "0.1.0"

from lossgrad.ops import install_numpy_names as _install_numpy_names  # noqa: E402

_install_numpy_names(globals())  # torch.sum(x, axis=0, keepdims=True), as torch accepts


def __getattr__(name: str) -> object:
    """``lossgrad.utils`` (DataLoader and friends), ``save``/``load`` and ``serialization`` are
    imported on first use (they are not needed to compute a loss)."""
    import importlib

    if name in ("utils", "serialization"):
        return importlib.import_module(f"lossgrad.{name}")
    if name in ("save", "load"):
        return getattr(importlib.import_module("lossgrad.serialization"), name)
    raise AttributeError(f"module 'lossgrad' has no attribute '{name}'")


def is_tensor(obj: object) -> builtins.bool:
    """True if ``obj`` is a lossgrad Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> builtins.int:
    return input.numel()


def is_floating_point(input: Tensor) -> builtins.bool:
    return input.is_floating_point()


def detach(input: Tensor) -> Tensor:
    return input.detach()
