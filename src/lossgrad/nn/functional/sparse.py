"""Lookup-table functions: ``embedding`` (rows of a weight matrix by index) and ``one_hot``.

Example:
    >>> import lossgrad as torch
    >>> import lossgrad.nn.functional as F
    >>> weight = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> F.embedding(torch.tensor([[2, 1], [1, 1]]), weight, padding_idx=0).sum().backward()
    >>> weight.grad
    tensor([[0., 0.],
            [3., 3.],
            [1., 1.]])
    >>> F.one_hot(torch.tensor([0, 2]), num_classes=3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction


def _row_scale(indices: np.ndarray, num_rows: int, padding_idx: int, by_freq: bool, dtype: Any):
    """Per lookup, the factor its gradient row is added with: 0 for the padding row, and
    ``1 / count(index)`` with ``scale_grad_by_freq``; None when every factor is 1."""
    if padding_idx < 0 and not by_freq:
        return None
    factors = np.ones(num_rows, dtype)
    if by_freq:
        counts = np.bincount(indices, minlength=num_rows)
        np.divide(1.0, counts, out=factors, where=counts > 0)
    if padding_idx >= 0:
        factors[padding_idx] = 0
    return factors[indices][:, None]


class _Embedding(ArrayFunction):
    """``out[..., :] = weight[indices[...], :]``; its backward is ``_EmbeddingDenseBackward``."""

    node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(
        ctx: Any, weight: np.ndarray, indices: np.ndarray, padding_idx: int, by_freq: bool
    ) -> np.ndarray:
        flat = indices.reshape(-1)
        ctx.lookup = (flat, weight.shape[0], padding_idx, by_freq)
        return weight[flat].reshape(indices.shape + weight.shape[1:])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        flat, num_rows, padding_idx, by_freq = ctx.lookup
        rows = g.reshape(len(flat), g.shape[-1])
        grad = _EmbeddingDenseBackward.apply(rows, flat, num_rows, padding_idx, by_freq)
        return grad, None, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        flat, num_rows, padding_idx, by_freq = ctx.lookup
        rows = g.reshape(len(flat), g.shape[-1])
        return _dense_backward(rows, flat, num_rows, padding_idx, by_freq), None, None, None


def _dense_backward(
    rows: np.ndarray, flat: np.ndarray, num_rows: int, padding_idx: int, by_freq: bool
) -> np.ndarray:
    """``out[flat[k]] += scale[k] * rows[k]``: each looked-up row's gradient summed into its
    table row, with ``scale`` 0 at ``padding_idx`` and ``1 / count`` under ``by_freq``."""
    scale = _row_scale(flat, num_rows, padding_idx, by_freq, rows.dtype)
    out = np.zeros((num_rows, rows.shape[1]), rows.dtype)
    np.add.at(out, flat, rows if scale is None else rows * scale)
    return out


class _EmbeddingDenseBackward(ArrayFunction):
    """The backward of embedding as an op of the output gradient, for second derivatives.

    It is linear in that gradient; torch differentiates it as the lookup ``gg[indices]`` with
    the padding rows zeroed, without the ``1 / count`` of ``scale_grad_by_freq`` (that option
    rescales the first gradient only, it is not a derivative): lossgrad does the same.
    """

    node_name = "EmbeddingDenseBackwardBackward0"

    @staticmethod
    def forward(
        ctx: Any, rows: np.ndarray, flat: np.ndarray, num_rows: int, padding_idx: int, by_freq: bool
    ) -> np.ndarray:
        ctx.lookup = (flat, padding_idx)
        return _dense_backward(rows, flat, num_rows, padding_idx, by_freq)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        flat, padding_idx = ctx.lookup
        looked_up = _Embedding.apply(gg, flat, -1, False)
        if padding_idx >= 0:
            looked_up = looked_up * Tensor._make(
                (flat != padding_idx)[:, None].astype(gg._data.dtype)
            )
        return looked_up, None, None, None, None


def _renorm_rows(weight: Tensor, indices: np.ndarray, max_norm: float, norm_type: float) -> None:
    """torch's embedding_renorm_: rows looked up whose ``norm_type``-norm exceeds ``max_norm``
    are scaled in place to ``max_norm / (norm + 1e-7)`` of themselves (not recorded)."""
    rows = np.unique(indices)
    data = weight._data
    norms = np.linalg.norm(data[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    if over.any():
        scale = (max_norm / (norms[over] + 1e-7)).astype(data.dtype)
        data[rows[over]] *= scale[:, None]
        weight._vbox[0] += 1


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` (shape ``(num_embeddings, embedding_dim)``) at the integer ``input``.

    Output shape ``input.shape + (embedding_dim,)``. Gradient: the weight's row ``r`` receives
    the sum of the gradients of the outputs that looked ``r`` up; none for ``padding_idx``; each
    divided by the number of such lookups with ``scale_grad_by_freq``. That backward is linear
    in the output gradient, so second derivatives are again lookups (as torch's, without the
    ``scale_grad_by_freq`` factor). ``max_norm`` first
    renormalises, in place, the looked-up rows whose ``norm_type``-norm exceeds it (torch's
    rule). Gradients are dense: ``sparse=True`` (sparse gradients) is not supported.

    Args:
        input: int64 or int32 indices, any shape.
        weight: the table, 2-D.
        padding_idx: a row that gets no gradient (negative counts from the end).
        max_norm: renormalise looked-up rows to at most this norm.
        norm_type: the p of the norm for ``max_norm``.
        scale_grad_by_freq: divide each gradient row by its lookup count in ``input``.
        sparse: must be False.

    Returns:
        The looked-up rows, ``(*input.shape, embedding_dim)``.
    """
    indices = input._data if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype != np.int64 and indices.dtype != np.int32:
        from lossgrad import _dtype

        kind = _dtype.from_numpy_dtype(indices.dtype)
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {_legacy_type_name(kind)} instead (while checking "
            "arguments for embedding)"
        )
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    num_rows = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num_rows, "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num_rows, "Padding_idx must be within num_embeddings"
            padding_idx = num_rows + padding_idx
    else:
        padding_idx = -1
    if indices.size and (indices.min() < 0 or indices.max() >= num_rows):
        raise IndexError("index out of range in self")
    if sparse:
        raise NotImplementedError(
            "embedding(sparse=True): lossgrad has no sparse tensors; use sparse=False (the same "
            "gradient, stored dense)"
        )
    if max_norm is not None:
        with grad_mode.no_grad():
            _renorm_rows(weight, indices.reshape(-1), max_norm, norm_type)
    return _Embedding.apply(
        weight, indices.astype(np.int64, copy=False), padding_idx, bool(scale_grad_by_freq)
    )


def _legacy_type_name(kind: Any) -> str:
    names = {
        "float32": "Float",
        "float64": "Double",
        "float16": "Half",
        "int16": "Short",
        "int8": "Char",
        "uint8": "Byte",
        "bool": "Bool",
    }
    return f"torch.{names.get(str(kind).replace('torch.', ''), 'Float')}Tensor"


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: ``out[..., c] = 1`` where ``tensor[...] == c``; shape
    ``tensor.shape + (num_classes,)``, with ``num_classes = max + 1`` when -1."""
    values = tensor._data
    if values.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if values.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(values.max()) + 1
    if values.size:
        if values.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if values.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes < 0:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = np.zeros(values.shape + (num_classes,), np.int64)
    np.put_along_axis(out, values[..., None], 1, axis=-1)
    return Tensor._make(out)


__all__ = ["embedding", "one_hot"]
