"""Random numbers: Generator, manual_seed, the random factories and in-place samplers.

lossgrad draws from NumPy's PCG64, so a seed gives a reproducible stream, but not torch's stream:
tests that compare with torch build their inputs once and hand the same values to both. The
argument checks, dtypes and error messages are torch's.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._device import check_device
from lossgrad._tensor import Tensor

# the C type names of torch's range checks
_C_NAMES = {
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int",
    "int64": "int64_t",
    "uint8": "unsigned char",
    "bool": "bool",
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
}
_DEFAULT_SEED = 67280421310721  # torch's default seed of a new Generator


class Generator:
    """A seeded source of random numbers (torch.Generator's API)."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = device
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed & (2**64 - 1))
        return self

    def seed(self) -> int:
        """Seed from 64 bits of fresh entropy (as torch reads /dev/urandom); returns the seed."""
        self.manual_seed(secrets.randbits(64))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        state = repr(self._rng.bit_generator.state).encode()
        return Tensor._make(np.frombuffer(state, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        import ast

        self._rng.bit_generator.state = ast.literal_eval(bytes(new_state._data).decode())
        return self


default_generator = Generator()
# torch seeds its default generator from fresh entropy at start-up (a new ``Generator()`` has the
# fixed seed above): an unseeded process draws different numbers on every run, and
# ``initial_seed()`` is a random 64-bit number.
default_generator.seed()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from fresh entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _rng(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator)._rng


def _size(size: tuple[Any, ...], name: str) -> tuple[int, ...]:
    from lossgrad._factories import _size as check

    return check(size, name)


def _float_dtype(dtype: Any, kernel: str) -> np.dtype:
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else _dtype.get_default_dtype().np
    if dt.kind != "f":
        name = _dtype.scalar_type_name(dt)
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{name}'")
    return dt


def _new(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def rand(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    out: Any = None,
) -> Tensor:
    """Uniform samples on [0, 1)."""
    check_device(device)
    dt = _float_dtype(dtype, "check_uniform_bounds")
    return _new(_rng(generator).random(_size(size, "rand")).astype(dt), requires_grad)


def randn(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    out: Any = None,
) -> Tensor:
    """Standard normal samples."""
    check_device(device)
    dt = _float_dtype(dtype, "normal_kernel_cpu")
    return _new(_rng(generator).standard_normal(_size(size, "randn")).astype(dt), requires_grad)


def _check_int_range(low: int, high: int, dt: np.dtype) -> None:
    """torch's bounds checks of ``random_(from, to)`` for the destination dtype."""
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    if dt.kind in "iub":
        lo, hi = (0, 1) if dt.kind == "b" else (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
        if not lo <= low <= hi:
            raise RuntimeError(f"from is out of bounds for {_C_NAMES[dt.name]}")
        if not lo <= high - 1 <= hi:
            raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[dt.name]}")


def randint(
    low: int = 0,
    high: Any = None,
    size: Any = None,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    out: Any = None,
) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` starts at 0. int64 by default."""
    check_device(device)
    if size is None:
        low, high, size = 0, low, high
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    low, high = int(low), int(high)
    _check_int_range(low, high, dt)
    vals = _rng(generator).integers(low, high, _size((size,), "randint"))
    return _new(vals.astype(dt), requires_grad)


def randperm(
    n: int,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 by default)."""
    check_device(device)
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    return _new(_rng(generator).permutation(int(n)).astype(dt), requires_grad)


def rand_like(
    input: Tensor,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    memory_format: Any = None,
) -> Tensor:
    """``rand`` with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(
    input: Tensor,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    memory_format: Any = None,
) -> Tensor:
    """``randn`` with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint_like(
    input: Tensor,
    low: int = 0,
    high: Any = None,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    memory_format: Any = None,
) -> Tensor:
    """``randint`` with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def _check_std(std: Any) -> None:
    s = np.asarray(std._data if isinstance(std, Tensor) else std)
    if s.size and (s < 0).any():
        raise RuntimeError(f"normal expects std >= 0.0, but found std {s.min():g}")


def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    out: Any = None,
) -> Tensor:
    """Normal samples: ``normal(mean_tensor, std)``, ``normal(mean, std_tensor)``, or
    ``normal(mean, std, size)`` with float mean and std."""
    check_device(device)
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    _check_std(s)
    if size is not None:
        shape = _size((size,), "normal")
        dt = _float_dtype(dtype, "normal_kernel_cpu")
    else:
        if not isinstance(m, np.ndarray) and not isinstance(s, np.ndarray):
            raise TypeError(
                "normal() received an invalid combination of arguments - got (float, float), but "
                "expected one of: (Tensor mean, Tensor std), (Tensor mean, float std), "
                "(float mean, Tensor std), (float mean, float std, tuple of ints size)"
            )
        try:
            shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        except ValueError:
            raise RuntimeError(
                f"The size of tensor a ({np.shape(m)[-1]}) must match the size of tensor b "
                f"({np.shape(s)[-1]}) at non-singleton dimension 0"
            ) from None
        dts = [a.dtype for a in (m, s) if isinstance(a, np.ndarray)]
        dt = np.result_type(*dts)
    out = _rng(generator).normal(m, s, shape).astype(dt)
    return _new(out, requires_grad)


def bernoulli(input: Tensor, p: Any = None, *, generator: Generator | None = None) -> Tensor:
    """0/1 samples with probabilities ``input`` (or ``p``), in ``input``'s dtype."""
    prob = input._data if p is None else np.full(input._data.shape, p)
    return Tensor._make(
        (_rng(generator).random(input._data.shape) < prob).astype(input._data.dtype)
    )


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Indices sampled from the rows of ``input`` (non-negative weights)."""
    p = input._data / input._data.sum(-1, keepdims=True)
    rows = p.reshape(-1, p.shape[-1])
    out = np.stack(
        [_rng(generator).choice(p.shape[-1], num_samples, replace=replacement, p=r) for r in rows]
    )
    return Tensor._make(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64))


# -- in place ------------------------------------------------------------------------------------


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    from lossgrad.autograd import grad_mode
    from lossgrad.ops.inplace import _LEAF_MSG

    if grad_mode.is_grad_enabled() and t._requires_grad and t.grad_fn is None:
        raise RuntimeError(_LEAF_MSG)
    t._data[...] = values
    t._vbox[0] += 1
    return t


def uniform_(
    t: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill ``t`` with uniform samples on [a, b)."""
    _float_dtype(t.dtype, "check_uniform_bounds")
    if a > b:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}"
        )
    return _fill(t, _rng(generator).uniform(a, b, t._data.shape))


def normal_(
    t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill ``t`` with normal samples."""
    _float_dtype(t.dtype, "normal_kernel_cpu")
    _check_std(std)
    return _fill(t, _rng(generator).normal(mean, std, t._data.shape))


def bernoulli_(t: Tensor, p: Any = 0.5, *, generator: Generator | None = None) -> Tensor:
    """Fill ``t`` with 0/1 samples of probability ``p``."""
    prob = p._data if isinstance(p, Tensor) else p
    return _fill(t, _rng(generator).random(t._data.shape) < prob)


def random_(t: Tensor, *args: Any, generator: Generator | None = None) -> Tensor:
    """torch's three forms: ``random_()`` integers on [0, 2**mantissa] for floats ([0, max] for
    integers); ``random_(to)`` on [0, to); ``random_(from, to)`` on [from, to) (``to=None``: up
    to the dtype's limit)."""
    if any(isinstance(a, float) for a in args):
        raise TypeError(
            f"random_() received an invalid combination of arguments - got "
            f"({', '.join(type(a).__name__ for a in args)}), but expected one of: "
            "(*, torch.Generator generator), (int from, int to, *, torch.Generator generator), "
            "(int to, *, torch.Generator generator)"
        )
    dt = t._data.dtype
    if dt.kind == "f":
        limit = 2 ** (np.finfo(dt).nmant + 1)
    elif dt.kind == "b":
        limit = 1
    else:
        limit = int(np.iinfo(dt).max)
    if not args:
        low, high = 0, limit + 1
    elif len(args) == 1:
        low, high = 0, int(args[0])
    else:
        low = int(args[0])
        high = limit + 1 if args[1] is None else int(args[1])
    _check_int_range(low, high, dt)
    return _fill(t, _rng(generator).integers(low, high, t._data.shape))
