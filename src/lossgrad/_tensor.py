"""class Tensor: one array, plus what autograd needs to know about it.

A Tensor wraps exactly one NumPy array (``_data``; never a Python scalar). Operators and methods
are thin calls into :mod:`lossgrad.ops`, where every differentiable operation is a Function.
Methods whose signature is the functional's (``x.exp()``, ``x.sum(1)``) are bound in bulk at the
bottom of this file; the ones with a method-only spelling (varargs ``view(*shape)``, in-place
``add_``) are written out here.
"""

from __future__ import annotations

import builtins
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _dtype
from lossgrad._device import CPU, check_device, device
from lossgrad._dtype import dtype as _DType
from lossgrad.autograd import function as _function
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import _HookHandle

_new = object.__new__


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` and ``f(torch.Size)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


class Size(tuple):
    """torch.Size: a tuple that prints as ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Size, (tuple(self),))


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    # Fields that most tensors never change live as class-level defaults, so that ``_make`` (run
    # once per op) sets only four attributes.
    __slots__ = (
        "_data",
        "_requires_grad",
        "grad_fn",
        "_output_nr",
        "_vbox",
        "__weakref__",
        "__dict__",
    )
    _grad: Tensor | None = None
    _hooks: list[Callable[[Tensor], Tensor | None]] | None = None
    _post_accumulate_grad_hooks: list[Callable[[Tensor], None]] | None = None
    _retains_grad = False
    __array_ufunc__ = None  # NumPy defers to our reflected operators: np.float32(2) * t -> Tensor
    # Set (in ``__dict__``) on views only, by ``ops._common.mark_view``: (root, fn re-deriving the
    # view from the root, the multi-output op it came from or None); the root keeps weak
    # references to its views.
    _view_of: tuple[Tensor, Callable[[Tensor], Tensor], str | None]
    _views: list[weakref.ref[Tensor]]

    if TYPE_CHECKING:
        # The functionals themselves, assigned after the class body (one Python call less per
        # operator); declared here so that type checkers see Tensor's operators.
        def __add__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, exponent: Any) -> Tensor: ...
        def __matmul__(self, other: Tensor) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...

        # The methods ``ops.bind_methods`` binds in bulk: each functional's signature, the tensor
        # as ``self``. (Declared above the ``int``/``float``/``bool`` methods, so those names
        # still mean the builtins here.)
        # lossgrad.ops.pointwise
        def add(self, other: Any, *, alpha: Any = ...) -> Tensor: ...
        def sub(self, other: Any, *, alpha: Any = ...) -> Tensor: ...
        def subtract(self, other: Any, *, alpha: Any = ...) -> Tensor: ...
        def mul(self, other: Any) -> Tensor: ...
        def multiply(self, other: Any) -> Tensor: ...
        def div(self, other: Any, *, rounding_mode: str | None = ...) -> Tensor: ...
        def divide(self, other: Any, *, rounding_mode: str | None = ...) -> Tensor: ...
        def true_divide(self, other: Any, *, rounding_mode: str | None = ...) -> Tensor: ...
        def floor_divide(self, other: Any) -> Tensor: ...
        def remainder(self, other: Any) -> Tensor: ...
        def pow(self, exponent: Any) -> Tensor: ...
        def float_power(self, exponent: Any) -> Tensor: ...
        def neg(self) -> Tensor: ...
        def negative(self) -> Tensor: ...
        def rsub(self, other: Any, *, alpha: Any = ...) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def absolute(self) -> Tensor: ...
        def sign(self) -> Tensor: ...
        def sgn(self) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def expm1(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def log1p(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def rsqrt(self) -> Tensor: ...
        def sin(self) -> Tensor: ...
        def cos(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def reciprocal(self) -> Tensor: ...
        def square(self) -> Tensor: ...
        def clamp(self, min: Any = ..., max: Any = ...) -> Tensor: ...
        def clip(self, min: Any = ..., max: Any = ...) -> Tensor: ...
        def clamp_min(self, min: Any) -> Tensor: ...
        def clamp_max(self, max: Any) -> Tensor: ...
        def maximum(self, other: Tensor) -> Tensor: ...
        def minimum(self, other: Tensor) -> Tensor: ...
        def fmax(self, other: Tensor) -> Tensor: ...
        def fmin(self, other: Tensor) -> Tensor: ...
        def eq(self, other: Any) -> Tensor: ...
        def ne(self, other: Any) -> Tensor: ...
        def lt(self, other: Any) -> Tensor: ...
        def le(self, other: Any) -> Tensor: ...
        def gt(self, other: Any) -> Tensor: ...
        def ge(self, other: Any) -> Tensor: ...
        def greater(self, other: Any) -> Tensor: ...
        def greater_equal(self, other: Any) -> Tensor: ...
        def less(self, other: Any) -> Tensor: ...
        def less_equal(self, other: Any) -> Tensor: ...
        def not_equal(self, other: Any) -> Tensor: ...
        def equal(self, other: Tensor) -> bool: ...
        def logical_and(self, other: Any) -> Tensor: ...
        def logical_or(self, other: Any) -> Tensor: ...
        def logical_xor(self, other: Any) -> Tensor: ...
        def logical_not(self) -> Tensor: ...
        def bitwise_and(self, other: Any) -> Tensor: ...
        def bitwise_or(self, other: Any) -> Tensor: ...
        def bitwise_xor(self, other: Any) -> Tensor: ...
        def bitwise_not(self) -> Tensor: ...
        def isnan(self) -> Tensor: ...
        def isinf(self) -> Tensor: ...
        def isfinite(self) -> Tensor: ...
        def isclose(
            self, other: Tensor, rtol: float = ..., atol: float = ..., equal_nan: bool = ...
        ) -> Tensor: ...
        def allclose(
            self, other: Tensor, rtol: float = ..., atol: float = ..., equal_nan: bool = ...
        ) -> bool: ...
        def floor(self) -> Tensor: ...
        def ceil(self) -> Tensor: ...
        def round(self, *, decimals: int = ...) -> Tensor: ...
        def trunc(self) -> Tensor: ...
        def where(self, condition: Any, other: Any) -> Tensor: ...  # where(condition, self, other)
        # lossgrad.ops.reduce
        def sum(self, dim: Any = ..., keepdim: bool = ..., *, dtype: Any = ...) -> Tensor: ...
        def nansum(self, dim: Any = ..., keepdim: bool = ..., *, dtype: Any = ...) -> Tensor: ...
        def mean(self, dim: Any = ..., keepdim: bool = ..., *, dtype: Any = ...) -> Tensor: ...
        def prod(
            self, dim: int | None = ..., keepdim: bool = ..., *, dtype: Any = ...
        ) -> Tensor: ...
        def cumsum(self, dim: int, *, dtype: Any = ...) -> Tensor: ...
        def amax(self, dim: Any = ..., keepdim: bool = ...) -> Tensor: ...
        def amin(self, dim: Any = ..., keepdim: bool = ...) -> Tensor: ...
        def max(self, dim: Any = ..., keepdim: bool = ..., *, other: Any = ...) -> Any: ...
        def min(self, dim: Any = ..., keepdim: bool = ..., *, other: Any = ...) -> Any: ...
        def argmax(self, dim: int | None = ..., keepdim: bool = ...) -> Tensor: ...
        def argmin(self, dim: int | None = ..., keepdim: bool = ...) -> Tensor: ...
        def logsumexp(self, dim: Any, keepdim: bool = ...) -> Tensor: ...
        def var(
            self, dim: Any = ..., unbiased: Any = ..., keepdim: bool = ..., *, correction: Any = ...
        ) -> Tensor: ...
        def std(
            self, dim: Any = ..., unbiased: Any = ..., keepdim: bool = ..., *, correction: Any = ...
        ) -> Tensor: ...
        def norm(
            self, p: Any = ..., dim: Any = ..., keepdim: bool = ..., dtype: Any = ...
        ) -> Tensor: ...
        def any(self, dim: Any = ..., keepdim: bool = ...) -> Tensor: ...
        def all(self, dim: Any = ..., keepdim: bool = ...) -> Tensor: ...
        def count_nonzero(self, dim: Any = ...) -> Tensor: ...
        # lossgrad.ops.shape
        def flatten(self, start_dim: int = ..., end_dim: int = ...) -> Tensor: ...
        def unflatten(self, dim: int, sizes: Any) -> Tensor: ...
        def squeeze(self, dim: Any = ...) -> Tensor: ...
        def unsqueeze(self, dim: int) -> Tensor: ...
        def transpose(self, dim0: int, dim1: int) -> Tensor: ...
        def swapaxes(self, dim0: int, dim1: int) -> Tensor: ...
        def swapdims(self, dim0: int, dim1: int) -> Tensor: ...
        def t(self) -> Tensor: ...
        def movedim(self, source: Any, destination: Any) -> Tensor: ...
        def expand_as(self, other: Tensor) -> Tensor: ...
        def broadcast_to(self, size: Any) -> Tensor: ...
        def split(self, split_size_or_sections: Any, dim: int = ...) -> tuple[Tensor, ...]: ...
        def chunk(self, chunks: int, dim: int = ...) -> tuple[Tensor, ...]: ...
        def unbind(self, dim: int = ...) -> tuple[Tensor, ...]: ...
        def narrow(self, dim: int, start: int, length: int) -> Tensor: ...
        def flip(self, dims: Any) -> Tensor: ...
        # lossgrad.ops.index
        def gather(self, dim: int, index: Tensor, *, sparse_grad: bool = ...) -> Tensor: ...
        def take_along_dim(self, indices: Tensor, dim: int | None = ...) -> Tensor: ...
        def index_select(self, dim: int, index: Tensor) -> Tensor: ...
        def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor: ...
        def masked_fill(self, mask: Tensor, value: Any) -> Tensor: ...
        def sort(self, dim: int = ..., descending: bool = ..., stable: bool = ...) -> Any: ...
        def argsort(self, dim: int = ..., descending: bool = ..., stable: bool = ...) -> Tensor: ...
        def topk(self, k: int, dim: int = ..., largest: bool = ..., sorted: bool = ...) -> Any: ...
        def nonzero(self, *, as_tuple: bool = ...) -> Any: ...
        # lossgrad.ops.linalg
        def matmul(self, other: Tensor) -> Tensor: ...
        def mm(self, mat2: Tensor) -> Tensor: ...
        def bmm(self, mat2: Tensor) -> Tensor: ...
        def dot(self, other: Tensor) -> Tensor: ...
        def outer(self, vec2: Tensor) -> Tensor: ...
        # lossgrad.ops.elementary
        def log10(self) -> Tensor: ...
        def log2(self) -> Tensor: ...
        def exp2(self) -> Tensor: ...
        def tan(self) -> Tensor: ...
        def sinh(self) -> Tensor: ...
        def cosh(self) -> Tensor: ...
        def asin(self) -> Tensor: ...
        def acos(self) -> Tensor: ...
        def atan(self) -> Tensor: ...
        def asinh(self) -> Tensor: ...
        def acosh(self) -> Tensor: ...
        def atanh(self) -> Tensor: ...
        def arcsin(self) -> Tensor: ...
        def arccos(self) -> Tensor: ...
        def arctan(self) -> Tensor: ...
        def arcsinh(self) -> Tensor: ...
        def arccosh(self) -> Tensor: ...
        def arctanh(self) -> Tensor: ...
        def atan2(self, other: Any) -> Tensor: ...
        def arctan2(self, other: Any) -> Tensor: ...
        def hypot(self, other: Any) -> Tensor: ...
        def logaddexp(self, other: Any) -> Tensor: ...
        def xlogy(self, other: Any) -> Tensor: ...
        def erf(self) -> Tensor: ...
        def erfc(self) -> Tensor: ...
        def erfinv(self) -> Tensor: ...
        def lgamma(self) -> Tensor: ...
        def digamma(self) -> Tensor: ...
        def deg2rad(self) -> Tensor: ...
        def rad2deg(self) -> Tensor: ...
        def frac(self) -> Tensor: ...
        def logit(self, eps: float | None = ...) -> Tensor: ...
        def sinc(self) -> Tensor: ...
        def lerp(self, end: Tensor, weight: Any) -> Tensor: ...
        def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = ...) -> Tensor: ...
        def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = ...) -> Tensor: ...
        def nan_to_num(
            self, nan: float = ..., posinf: float | None = ..., neginf: float | None = ...
        ) -> Tensor: ...
        def positive(self) -> Tensor: ...
        def signbit(self) -> Tensor: ...
        def fix(self) -> Tensor: ...
        def logaddexp2(self, other: Any) -> Tensor: ...
        def copysign(self, other: Any) -> Tensor: ...
        def fmod(self, other: Any) -> Tensor: ...
        def ldexp(self, other: Tensor) -> Tensor: ...
        def i0(self) -> Tensor: ...
        def angle(self) -> Tensor: ...
        def isposinf(self) -> Tensor: ...
        def isneginf(self) -> Tensor: ...
        def isreal(self) -> Tensor: ...
        def nextafter(self, other: Any) -> Tensor: ...
        def bitwise_left_shift(self, other: Any) -> Tensor: ...
        def bitwise_right_shift(self, other: Any) -> Tensor: ...
        # lossgrad.ops.activation
        def relu(self, inplace: bool = ...) -> Tensor: ...
        def softmax(
            self, dim: int | None = ..., _stacklevel: int = ..., dtype: Any = ...
        ) -> Tensor: ...
        def log_softmax(
            self, dim: int | None = ..., _stacklevel: int = ..., dtype: Any = ...
        ) -> Tensor: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Legacy constructor: ``Tensor(2, 3)`` (uninitialised float) or ``Tensor(data)``."""
        dt = _dtype.get_default_dtype().np
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            arr = np.array(_unwrap(args[0]), dtype=dt)
        else:
            arr = np.zeros(_shape_args(args), dtype=dt)
        self._init(arr)

    def _init(
        self, arr: np.ndarray, requires_grad: bool = False, grad_fn: Any = None, nr: int = 0
    ) -> None:
        self._data = arr
        self._requires_grad = requires_grad
        self.grad_fn = grad_fn
        self._output_nr = nr
        self._vbox = [0]

    @classmethod
    def _make(
        cls, arr: np.ndarray, requires_grad: bool = False, grad_fn: Any = None, nr: int = 0
    ) -> Tensor:
        """Fast internal constructor (skips the legacy ``__init__``)."""
        t = _new(cls)
        t._data = arr
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._output_nr = nr
        t._vbox = [0]
        return t

    # -- metadata -------------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        return Tensor._make(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._data.shape)
        if not self._data.ndim:  # torch's error, for any dim
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def dtype(self) -> _DType:
        return _dtype.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        return self

    def cpu(self, memory_format: Any = None) -> Tensor:
        return self

    def cuda(
        self, device: Any = None, non_blocking: builtins.bool = False, **kwargs: Any
    ) -> Tensor:
        """torch built without CUDA: ``AssertionError: Torch not compiled with CUDA enabled``."""
        check_device("cuda")
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self.grad_fn is not None and not flag:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if flag and self._data.dtype.kind != "f":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind != "f":  # torch's method says it differently
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        if self._grad is None and self.grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you "
                "access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for "
                "more information.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    "attempting to assign a gradient with dtype "
                    f"'{_C_TYPES[value._data.dtype.name]}' "
                    "to a tensor with grad_dtype "
                    f"'{_dtype.scalar_type_name(self._data.dtype)}'. The "
                    "gradient must match the tensor's grad_dtype (defaults to the tensor's dtype). "
                    "You can set the tensor's grad_dtype attribute with a specific dtype, or None "
                    "to allow any dtype. Set grad_dtype with caution. Diverging the dtypes of a "
                    "tensor "
                    "and its gradient may break downstream systems that assume they match."
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of "
                    f"size '{list(self._data.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
        self._grad = value

    @property
    def _version(self) -> int:
        return self._vbox[0]

    # -- autograd -------------------------------------------------------------------------------
    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Compute the gradient of this tensor w.r.t. the graph leaves, into their ``.grad``."""
        _engine.run_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        t = Tensor._make(self._data)
        t._vbox = self._vbox
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        ref = weakref.ref(self)

        def keep(g: Tensor) -> None:
            t = ref()
            if t is not None:
                if t._grad is None:
                    t._grad = g.detach() if not grad_mode.is_grad_enabled() else g
                    t._grad = (
                        Tensor._make(t._grad._data.copy()) if t._grad.grad_fn is None else t._grad
                    )
                else:
                    t._grad = t._grad + g

        node = self.grad_fn
        if node._retain_hooks is None:
            node._retain_hooks = {}
        node._retain_hooks[self._output_nr] = keep
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a result replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node._pre_hooks is None:
                node._pre_hooks = {}
            hooks = node._pre_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _HookHandle:
        """Call ``hook(self)`` after a backward has accumulated a gradient into this leaf's
        ``.grad`` (not for ``autograd.grad``, which accumulates nothing); the hook returns None.
        Returns a handle whose ``remove()`` unregisters it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        return _HookHandle(self._post_accumulate_grad_hooks, hook)

    # -- conversion -----------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def _scalar(self) -> Any:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.reshape(()).item()

    def __float__(self) -> float:
        if self._requires_grad:
            _warn_once("float_requires_grad", _FLOAT_REQUIRES_GRAD_MSG)
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            which = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {which} is ambiguous")
        return bool(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        from lossgrad._tensor_str import tensor_repr

        return tensor_repr(self, tensor_contents)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, proto: Any) -> Any:
        return (_rebuild, (self._data, self._requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment."
            )
        t = type(self).__new__(type(self))
        Tensor._init(t, self._data.copy(), self._requires_grad)
        if self._grad is not None:
            t._grad = Tensor._make(self._grad._data.copy())
        memo[id(self)] = t
        return t

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(other)``, ``to('cpu', dtype)``: a recorded cast."""
        from lossgrad.ops.pointwise import to_dtype

        target = kwargs.get("dtype")
        if kwargs.get("device") is not None:
            check_device(kwargs["device"])
        for a in args:
            if isinstance(a, (_DType, np.dtype, type)):
                target = a
            elif isinstance(a, Tensor):
                target = a.dtype
            elif isinstance(a, (str, device, builtins.int)):
                check_device(a)
        if target is None:
            return self
        return to_dtype(self, _dtype.to_numpy_dtype(target), bool(kwargs.get("copy", False)))

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            names = {
                "float32": "Float",
                "float64": "Double",
                "float16": "Half",
                "int64": "Long",
                "int32": "Int",
                "int16": "Short",
                "int8": "Char",
                "uint8": "Byte",
                "bool": "Bool",
            }
            return f"torch.{names[self._data.dtype.name]}Tensor"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(_dtype.float32)

    def double(self) -> Tensor:
        return self.to(_dtype.float64)

    def half(self) -> Tensor:
        return self.to(_dtype.float16)

    def long(self) -> Tensor:
        return self.to(_dtype.int64)

    def int(self) -> Tensor:
        return self.to(_dtype.int32)

    def bool(self) -> Tensor:
        return self.to(_dtype.bool)

    def byte(self) -> Tensor:
        return self.to(_dtype.uint8)

    def clone(self, *, memory_format: Any = None) -> Tensor:
        from lossgrad.ops.pointwise import clone

        return clone(self)

    # (``builtins.bool``: inside the class body, ``bool`` and ``float`` name the methods above)
    def new_tensor(
        self, data: Any, dtype: Any = None, requires_grad: builtins.bool = False
    ) -> Tensor:
        from lossgrad._factories import tensor

        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(
        self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
    ) -> Tensor:
        dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else self._data.dtype
        return Tensor._make(np.zeros(_shape_args(size), dt), requires_grad)

    def new_ones(
        self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
    ) -> Tensor:
        dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else self._data.dtype
        return Tensor._make(np.ones(_shape_args(size), dt), requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else self._data.dtype
        return Tensor._make(np.full(_shape_args((size,)), fill_value, dt), requires_grad)

    def new_empty(
        self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
    ) -> Tensor:
        return self.new_zeros(*size, dtype=dtype, requires_grad=requires_grad)

    # -- shape methods with varargs spellings ---------------------------------------------------
    def view(self, *shape: Any) -> Tensor:
        from lossgrad.ops.shape import reshape

        if len(shape) == 1 and isinstance(shape[0], (_DType, np.dtype)):
            raise NotImplementedError("view(dtype) is not supported")
        return reshape(self, _shape_args(shape))

    def reshape(self, *shape: Any) -> Tensor:
        from lossgrad.ops.shape import reshape

        return reshape(self, _shape_args(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    reshape_as = view_as

    def permute(self, *dims: Any) -> Tensor:
        from lossgrad.ops.shape import permute

        return permute(self, _shape_args(dims))

    def expand(self, *sizes: Any) -> Tensor:
        from lossgrad.ops.shape import expand

        return expand(self, _shape_args(sizes))

    def repeat(self, *sizes: Any) -> Tensor:
        from lossgrad.ops.shape import repeat

        return repeat(self, _shape_args(sizes))

    def tile(self, *sizes: Any) -> Tensor:
        from lossgrad.ops.shape import tile

        return tile(self, _shape_args(sizes))

    @property
    def T(self) -> Tensor:
        """All dimensions reversed; torch warns (once) for tensors that are not 2-D."""
        from lossgrad.ops.shape import permute

        n = self._data.ndim
        if n not in (0, 2):
            _warn_once("T_nd", _T_ND_MSG)
        if n == 0:
            _warn_once(
                "T_0d",
                "Tensor.T is deprecated on 0-D tensors. "
                "This function is the identity in these cases.",
            )
        return permute(self, tuple(range(n - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        from lossgrad.ops.shape import transpose

        return transpose(self, -2, -1)

    # -- in-place ops -----------------------------------------------------------------------------
    def _inplace(self, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
        """Run ``fn(self, ...)`` and write the result into ``self`` (values and history)."""
        from lossgrad.ops.inplace import apply_inplace

        return apply_inplace(self, fn, *args, **kwargs)

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        if alpha == 1 and _quick_inplace(self, np.add, other):
            return self
        return self._inplace(_P.add, other, alpha=alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        if alpha == 1 and _quick_inplace(self, np.subtract, other):
            return self
        return self._inplace(_P.sub, other, alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        if _quick_inplace(self, np.multiply, other):
            return self
        return self._inplace(_P.mul, other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None and self._data.dtype.kind == "f":
            if _quick_inplace(self, np.true_divide, other):
                return self
        return self._inplace(_P.div, other, rounding_mode=rounding_mode)

    def pow_(self, exponent: Any) -> Tensor:
        from lossgrad.ops.pointwise import pow

        return self._inplace(pow, exponent)

    def neg_(self) -> Tensor:
        from lossgrad.ops.pointwise import neg

        return self._inplace(neg)

    def abs_(self) -> Tensor:
        from lossgrad.ops.pointwise import abs

        return self._inplace(abs)

    def exp_(self) -> Tensor:
        from lossgrad.ops.pointwise import exp

        return self._inplace(exp)

    def log_(self) -> Tensor:
        from lossgrad.ops.pointwise import log

        return self._inplace(log)

    def sqrt_(self) -> Tensor:
        from lossgrad.ops.pointwise import sqrt

        return self._inplace(sqrt)

    def sigmoid_(self) -> Tensor:
        from lossgrad.ops.pointwise import sigmoid

        return self._inplace(sigmoid)

    def tanh_(self) -> Tensor:
        from lossgrad.ops.pointwise import tanh

        return self._inplace(tanh)

    def relu_(self) -> Tensor:
        from lossgrad.ops.activation import relu

        return self._inplace(relu)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        from lossgrad.ops.pointwise import clamp

        return self._inplace(clamp, min, max)

    clip_ = clamp_

    def clamp_min_(self, min: Any) -> Tensor:
        return self.clamp_(min=min)

    def clamp_max_(self, max: Any) -> Tensor:
        return self.clamp_(max=max)

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        from lossgrad.ops.pointwise import add, mul

        return self._inplace(add, mul(tensor1, tensor2), alpha=value)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        from lossgrad.ops.pointwise import add, div

        return self._inplace(add, div(tensor1, tensor2), alpha=value)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        from lossgrad.ops.pointwise import add, mul, sub

        return self._inplace(add, mul(sub(end, self), weight))

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        from lossgrad.ops.index import masked_fill

        return self._inplace(masked_fill, mask, value)

    def copy_(self, src: Any, non_blocking: builtins.bool = False) -> Tensor:
        from lossgrad.ops.inplace import copy_

        return copy_(self, src)

    def fill_(self, value: Any) -> Tensor:
        from lossgrad.ops.inplace import fill_

        return fill_(self, value)

    def zero_(self) -> Tensor:
        from lossgrad.ops.inplace import fill_

        return fill_(self, 0)

    def uniform_(
        self, a: builtins.float = 0.0, b: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        from lossgrad._random import uniform_

        return uniform_(self, a, b, generator=generator)

    def normal_(
        self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        from lossgrad._random import normal_

        return normal_(self, mean, std, generator=generator)

    def random_(self, *args: Any, generator: Any = None) -> Tensor:
        from lossgrad._random import random_

        return random_(self, *args, generator=generator)

    def bernoulli_(self, p: builtins.float = 0.5, *, generator: Any = None) -> Tensor:
        from lossgrad._random import bernoulli_

        return bernoulli_(self, p, generator=generator)

    def __setitem__(self, index: Any, value: Any) -> None:
        _I.setitem(self, index, value)

    # -- operators --------------------------------------------------------------------------------
    def __radd__(self, other: Any) -> Tensor:
        return _P.add(other, self)

    def __rsub__(self, other: Any) -> Tensor:
        return _P.rsub(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _P.mul(other, self)

    def __rtruediv__(self, other: Any) -> Tensor:
        # torch computes ``number / t`` as ``reciprocal(t) * number`` (MulBackward0)
        if isinstance(other, Tensor):
            return _P.div(other, self)
        return _P.mul(_P.reciprocal(self), other)

    def __floordiv__(self, other: Any) -> Tensor:
        return _P.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _P.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return _P.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _P.remainder(other, self)

    def __rpow__(self, other: Any) -> Tensor:
        return _P.pow(other, self)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _L.matmul(other, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _P.abs(self)

    def __iadd__(self, other: Any) -> Tensor:
        if _quick_inplace(self, np.add, other):  # ``counts[i, j] += 1``: one call, not two
            return self
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        if _quick_inplace(self, np.subtract, other):
            return self
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        if _quick_inplace(self, np.multiply, other):
            return self
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _P.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _P.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _P.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _P.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _P.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _P.ge(self, other)

    def __and__(self, other: Any) -> Tensor:
        return _P.bitwise_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _P.bitwise_or(self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _P.bitwise_xor(self, other)

    def __invert__(self) -> Tensor:
        return _P.bitwise_not(self)


_C_TYPES = {  # torch's C type names, as its messages spell dtypes
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
    "int8": "signed char",
    "int16": "short int",
    "int32": "int",
    "int64": "long int",
    "uint8": "unsigned char",
    "bool": "bool",
}
_T_ND_MSG = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
    "tensor."
)
_FLOAT_REQUIRES_GRAD_MSG = (  # torch warns once, from float(t) only (not item(), int(), bool())
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first."
)
_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    """torch's TORCH_WARN_ONCE: a warning issued once per process."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, UserWarning, stacklevel=3)


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def _unwrap(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_unwrap(d) for d in data]
    return data


def _rebuild(arr: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor._make(arr, requires_grad)


from lossgrad.autograd import engine as _engine  # noqa: E402
from lossgrad.ops import bind_methods, with_numpy_names  # noqa: E402
from lossgrad.ops import index as _I  # noqa: E402
from lossgrad.ops import linalg as _L  # noqa: E402
from lossgrad.ops import pointwise as _P  # noqa: E402
from lossgrad.ops.inplace import quick_inplace as _quick_inplace  # noqa: E402

bind_methods(Tensor)
Tensor.size = with_numpy_names(Tensor.size)  # type: ignore[method-assign]  # size(axis=0)
_function._bind_tensor(Tensor)
# Operators whose functional takes (self, other) in that order are that functional itself: one
# Python call less per operator.
(
    Tensor.__add__,  # type: ignore[method-assign]
    Tensor.__sub__,  # type: ignore[method-assign]
    Tensor.__mul__,  # type: ignore[method-assign]
    Tensor.__truediv__,  # type: ignore[method-assign]
    Tensor.__pow__,  # type: ignore[method-assign]
    Tensor.__matmul__,  # type: ignore[method-assign]
    Tensor.__neg__,  # type: ignore[method-assign]
    Tensor.__getitem__,  # type: ignore[method-assign]
) = (_P.add, _P.sub, _P.mul, _P.div, _P.pow, _L.matmul, _P.neg, _I.getitem)
