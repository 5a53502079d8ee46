"""Shape ops: reshape/view, flatten, squeeze/unsqueeze, transpose/permute, expand, repeat,
cat/stack, split/chunk/narrow, flip. Each backward is the inverse rearrangement of the gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import mark_view, normalize_dims, sum_to_shape, sum_to_shape_array


def _dim(dim: int, ndim: int) -> int:
    return normalize_dims(dim, ndim)[0] if ndim else 0


class _Reshape(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.src = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return reshape(g, ctx.src), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        return g.reshape(ctx.src), None


def reshape(input: Tensor, shape: Any) -> Tensor:
    """Same data, new shape (one dimension may be -1)."""
    try:
        shape = shape if type(shape) is tuple else tuple(shape)
        return mark_view(_Reshape.apply(input, shape), input, lambda t: reshape(t, shape))
    except (ValueError, TypeError):  # NumPy refused: raise torch's error instead
        _infer_shape(tuple(int(s) for s in shape), input._data.size)
        raise


def _infer_shape(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    """Resolve one -1 entry; RuntimeError (torch's message) if the sizes cannot match."""
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        if known == 0 or size % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {size}")
        return tuple(size // known if s == -1 else s for s in shape)
    if known != size or any(s < 0 for s in shape):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {size}")
    return shape


view = reshape


class _Squeeze(_Reshape):
    node_name = "SqueezeBackward0"


class _SqueezeDim(_Reshape):
    node_name = "SqueezeBackward1"


class _SqueezeDims(_Reshape):
    node_name = "SqueezeBackward2"


class _Unsqueeze(_Reshape):
    node_name = "UnsqueezeBackward0"


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = _dim(start_dim, nd), _dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input._data.shape
    return reshape(input, shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :])


def unflatten(input: Tensor, dim: int, sizes: Any) -> Tensor:
    d = _dim(dim, input._data.ndim)
    shape = input._data.shape
    return reshape(input, shape[:d] + tuple(sizes) + shape[d + 1 :])


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Drop size-1 dims (all, or those in ``dim``; other sizes in ``dim`` are left alone)."""
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
        cls: type[_Reshape] = _Squeeze
    else:
        dims = normalize_dims(dim, input._data.ndim)
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
        cls = _SqueezeDim if isinstance(dim, (int, np.integer)) else _SqueezeDims
    return mark_view(cls.apply(input, new), input, lambda t: squeeze(t, dim))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    nd = input._data.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})"
        )
    d = dim % nd
    shape = input._data.shape
    out = _Unsqueeze.apply(input, shape[:d] + (1,) + shape[d:])
    return mark_view(out, input, lambda t: unsqueeze(t, dim))


class _Permute(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "PermuteBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return permute(g, tuple(np.argsort(ctx.dims))), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        return g.transpose(np.argsort(ctx.dims)), None


def permute(input: Tensor, dims: Any) -> Tensor:
    nd = input._data.ndim
    dims = tuple(_dim(int(d), nd) for d in dims)
    if sorted(dims) != list(range(nd)):
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal "
            f"to len(dims) = {len(dims)}"
        )
    return mark_view(_Permute.apply(input, dims), input, lambda t: permute(t, dims))


class _Transpose(_Permute):
    node_name = "TransposeBackward0"


class _T(_Permute):
    node_name = "TBackward0"


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view; the gradient is swapped back)."""
    nd = input._data.ndim
    d0, d1 = _dim(dim0, nd), _dim(dim1, nd)
    dims = list(range(nd))
    if nd:
        dims[d0], dims[d1] = dims[d1], dims[d0]
    out = _Transpose.apply(input, tuple(dims))
    return mark_view(out, input, lambda t: transpose(t, dim0, dim1))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transpose a matrix; 0-d and 1-D tensors are returned as they are (as a view)."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return mark_view(_T.apply(input, (1, 0) if nd == 2 else tuple(range(nd))), input, t)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (the others keep their order)."""
    nd = input._data.ndim
    src = normalize_dims(source, nd)
    dst = normalize_dims(destination, nd)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return permute(input, tuple(order))


class _Expand(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "ExpandBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.src = a.shape
        return a.view() if a.shape == shape else np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return sum_to_shape(g, ctx.src), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        return sum_to_shape_array(g, ctx.src), None


def expand(input: Tensor, sizes: Any) -> Tensor:
    """Broadcast to ``sizes`` (-1 keeps a dimension); a read-only view, no copy."""
    sizes = tuple(int(s) for s in sizes)
    src = input._data.shape
    lead = len(sizes) - len(src)
    if lead < 0:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(src)}}}, size={list(sizes)}): the number of sizes "
            "provided must be greater or equal to the number of dimensions in the tensor"
        )
    shape = tuple(src[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    for d in range(len(src)):
        if src[d] != 1 and src[d] != shape[d + lead]:
            raise RuntimeError(
                f"The expanded size of the tensor ({shape[d + lead]}) must match the existing "
                f"size ({src[d]}) at non-singleton dimension {d + lead}.  Target sizes: "
                f"{list(sizes)}.  Tensor sizes: {list(src)}"
            )
    return _Expand.apply(input, shape)


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other._data.shape)


def broadcast_to(input: Tensor, size: Any) -> Tensor:
    return expand(input, size)


def broadcast_tensors(*tensors: Tensor) -> list[Tensor]:
    shape = np.broadcast_shapes(*(t._data.shape for t in tensors))
    return [expand(t, shape) for t in tensors]


class _Tile(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "RepeatBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, reps: tuple[int, ...]) -> np.ndarray:
        ctx.meta = (a.shape, reps)
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.reduce import sum as _sum

        src, reps = ctx.meta
        full = (1,) * (len(reps) - len(src)) + src
        split = []
        for r, s in zip(reps, full, strict=True):
            split += [r, s]
        summed = _sum(reshape(g, tuple(split)), tuple(range(0, len(split), 2)))
        return reshape(summed, src), None


def repeat(input: Tensor, sizes: Any) -> Tensor:
    """Tile the data ``sizes`` times along each dim (torch's ``Tensor.repeat``)."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of "
            "tensor"
        )
    return _Tile.apply(input, sizes)


def tile(input: Tensor, dims: Any) -> Tensor:
    dims = tuple(int(s) for s in dims)
    dims = (1,) * (input._data.ndim - len(dims)) + dims
    return _Tile.apply(input, dims)


class _Cat(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "CatBackward0"

    @staticmethod
    def forward(ctx: Any, axis: int, *arrays: np.ndarray) -> np.ndarray:
        ctx.meta = (axis, [a.shape[axis] for a in arrays])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        axis, sizes = ctx.meta
        return (None, *split(g, sizes, axis))


def cat(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (1-D empty tensors are skipped, as in torch)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    tensors = [t for t in tensors if not (t._data.ndim == 1 and t._data.size == 0)] or tensors[:1]
    from lossgrad.ops._common import promote

    _, tensors = promote(*tensors)
    nd = tensors[0]._data.ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = _dim(dim, nd)
    ref = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        s = t._data.shape
        if len(s) != nd:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {nd} and {len(s)}"
            )
        for j in range(nd):
            if j != axis and s[j] != ref[j]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {axis}. Expected size "
                    f"{ref[j]} but got size {s[j]} for tensor number {i} in the list."
                )
    return _Cat.apply(axis, *tensors)


concat = concatenate = cat


class _Stack(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "StackBackward0"

    @staticmethod
    def forward(ctx: Any, axis: int, *arrays: np.ndarray) -> np.ndarray:
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return (None, *unbind(g, ctx.axis))


def stack(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dim; the gradient is unbound along it."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {i}"
            )
    from lossgrad.ops._common import promote

    _, tensors = promote(*tensors)
    return _Stack.apply(_dim(dim, len(shape) + 1), *tensors)


class _Narrow(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "SliceBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int, start: int, length: int) -> np.ndarray:
        ctx.meta = (a.shape, a.dtype, axis, start, length)
        idx = [slice(None)] * a.ndim
        idx[axis] = slice(start, start + length)
        return a[tuple(idx)]

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, dt, axis, start, length = ctx.meta
        return pad_axis(g, axis, start, shape[axis] - start - length), None, None, None


def pad_axis(g: Tensor, axis: int, before: int, after: int) -> Tensor:
    """Zero-pad ``g`` along ``axis`` (differentiable: built with cat)."""
    parts = []
    if before:
        s = list(g._data.shape)
        s[axis] = before
        parts.append(Tensor._make(np.zeros(s, g._data.dtype)))
    parts.append(g)
    if after:
        s = list(g._data.shape)
        s[axis] = after
        parts.append(Tensor._make(np.zeros(s, g._data.dtype)))
    return cat(parts, axis) if len(parts) > 1 else g


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    axis = _dim(dim, input._data.ndim)
    n = input._data.shape[axis]
    start = int(start)
    if start < 0:
        start += n
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    out = _Narrow.apply(input, axis, start, int(length))
    return mark_view(out, input, lambda t: narrow(t, axis, start, length))


class _Split(ArrayFunction):
    """Consecutive pieces along one axis, as views; the gradient is their concatenation."""
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed

    node_name = "SplitBackward0"

    @staticmethod
    def forward(
        ctx: Any, a: np.ndarray, axis: int, sizes: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        ctx.axis = axis
        bounds = np.cumsum(sizes)[:-1]
        return tuple(np.split(a, bounds, axis=axis))

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:
        return cat(list(grads), ctx.axis), None, None


class _SplitWithSizes(_Split):
    node_name = "SplitWithSizesBackward0"


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` (the last may be smaller) or of the given sizes along ``dim``."""
    axis = _dim(dim, tensor._data.ndim)
    n = tensor._data.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and n:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
            )
        sizes = tuple(min(step, n - s) for s in range(0, n, step)) if n else (0,)
        cls: type[_Split] = _Split
    else:
        sizes = tuple(int(s) for s in split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {axis}), but got split_sizes={list(sizes)}"
            )
        cls = _SplitWithSizes
    pieces = cls.apply(tensor, axis, sizes)
    name = "Split" if cls is _Split else "SplitWithSizes"
    start = 0
    for i, (piece, size) in enumerate(zip(pieces, sizes, strict=True)):
        vfn = lambda t, s=start, n=size: narrow(t, axis, s, n)  # noqa: E731
        mark_view(piece, tensor, vfn, f"Output {i} of {name}")
        start += size
    return pieces


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    n = input._data.shape[_dim(dim, input._data.ndim)]
    step = -(-n // chunks) if n else 1
    return split(input, step, dim)


class _Unbind(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "UnbindBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
        ctx.axis = axis
        moved = np.moveaxis(a, axis, 0)
        return tuple(moved[i] for i in range(moved.shape[0]))

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:
        return stack(list(grads), ctx.axis), None


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, with that dim removed; the gradient is their stack."""
    if input._data.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    axis = _dim(dim, input._data.ndim)
    pieces = _Unbind.apply(input, axis)
    lead = (slice(None),) * axis
    for i, piece in enumerate(pieces):
        mark_view(piece, input, lambda t, i=i: t[lead + (i,)], f"Output {i} of Unbind")
    return pieces


class _Flip(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "FlipBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return np.flip(a, axes).copy()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return flip(g, ctx.axes), None


def flip(input: Tensor, dims: Any) -> Tensor:
    return _Flip.apply(input, normalize_dims(dims, input._data.ndim))
