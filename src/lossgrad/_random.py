"""Random numbers: Generator, manual_seed, the random factories and in-place samplers.

lossgrad draws from NumPy's PCG64, so a seed gives a reproducible stream, but not torch's stream:
tests that compare with torch build their inputs once and hand the same values to both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._tensor import Tensor, _shape_args


class Generator:
    """A seeded source of random numbers (torch.Generator's API)."""

    def __init__(self, device: Any = "cpu") -> None:
        self._seed = 67280421310721  # torch's default seed
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._rng = np.random.default_rng(self._seed)
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


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _rng(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator)._rng


def _float_dtype(dtype: Any) -> np.dtype:
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else _dtype.get_default_dtype().np
    if dt.kind != "f":
        raise RuntimeError(f"\"check_uniform_bounds\" not implemented for '{_dtype.from_numpy_dtype(dt).name}'")
    return dt


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Uniform samples on [0, 1)."""
    dt = _float_dtype(dtype)
    return Tensor._make(_rng(generator).random(_shape_args(size)).astype(dt), requires_grad)


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Standard normal samples."""
    dt = _float_dtype(dtype)
    return Tensor._make(_rng(generator).standard_normal(_shape_args(size)).astype(dt), requires_grad)


def randint(low: int, high: Any = None, size: Any = None, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` starts at 0."""
    if size is None:
        low, high, size = 0, low, high
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    return Tensor._make(_rng(generator).integers(low, high, _shape_args((size,))).astype(dt), requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    return Tensor._make(_rng(generator).permutation(n).astype(dt))


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Normal samples with the given mean and std (scalars or tensors, broadcast)."""
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if size is not None:
        shape = _shape_args((size,))
    else:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else (
        m.dtype if isinstance(m, np.ndarray) else (s.dtype if isinstance(s, np.ndarray) else _dtype.get_default_dtype().np)
    )
    out = _rng(generator).normal(m, s, shape).astype(dt)
    return Tensor._make(out, requires_grad)


def bernoulli(input: Tensor, p: Any = None, *, generator: Generator | None = None) -> Tensor:
    prob = input._data if p is None else np.full(input._data.shape, p)
    return Tensor._make((_rng(generator).random(input._data.shape) < prob).astype(input._data.dtype))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Generator | None = None) -> Tensor:
    p = input._data / input._data.sum(-1, keepdims=True)
    rows = p.reshape(-1, p.shape[-1])
    out = np.stack([_rng(generator).choice(p.shape[-1], num_samples, replace=replacement, p=r) for r in rows])
    return Tensor._make(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64))


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    from lossgrad.ops.inplace import _LEAF_MSG
    from lossgrad.autograd import grad_mode

    if grad_mode.is_grad_enabled() and t._requires_grad and t.grad_fn is None:
        raise RuntimeError(_LEAF_MSG)
    t._data[...] = values
    t._vbox[0] += 1
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).uniform(a, b, t._data.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).normal(mean, std, t._data.shape))


def bernoulli_(t: Tensor, p: Any = 0.5, *, generator: Generator | None = None) -> Tensor:
    prob = p._data if isinstance(p, Tensor) else p
    return _fill(t, _rng(generator).random(t._data.shape) < prob)


def random_(t: Tensor, *args: Any, generator: Generator | None = None) -> Tensor:
    """``random_()``: integers on [0, 2**mantissa]; ``random_(to)``: [0, to); ``random_(from, to)``."""
    if len(args) == 0:
        dt = t._data.dtype
        if dt.kind == "f":
            high = 2 ** (np.finfo(dt).nmant + 1) + 1
        elif dt.kind == "b":
            high = 2
        else:
            high = int(np.iinfo(dt).max) + 1
        low = 0
    elif len(args) == 1:
        low, high = 0, args[0]
    else:
        low, high = args[0], args[1]
        if high is None:
            high = int(np.iinfo(t._data.dtype).max) + 1 if t._data.dtype.kind in "iu" else 2 ** (np.finfo(t._data.dtype).nmant + 1) + 1
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _fill(t, _rng(generator).integers(low, high, t._data.shape))
