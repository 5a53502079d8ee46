"""Distances: pairwise_distance, cosine_similarity.

Both follow torch's epsilon conventions exactly (they differ from each other, and from
``cosine_embedding_loss``): ``pairwise_distance`` adds ``eps`` to the *difference* before the
norm, so coincident points have distance ``eps * D**(1/p)`` and a non-zero gradient;
``cosine_similarity`` divides each input by its own norm clamped at ``eps``, with the clamp
invisible to autograd (the gradient goes straight through it, as torch's in-place no-grad clamp).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._backend import einsum as _einsum
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks
from lossgrad.ops._common import broadcast_error, normalize_dims, promote, sgn_into, sum_to_shape
from lossgrad.ops.pointwise import abs as _abs
from lossgrad.ops.pointwise import add, div, eq, isnan, logical_or, mul, neg, pow, sign, sub, where
from lossgrad.ops.reduce import norm as _norm
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import unsqueeze


def _rows(x: np.ndarray) -> np.ndarray:
    """An ``(N, D)`` or ``(D)`` array as ``(N, D)`` rows."""
    return x if x.ndim == 2 else x.reshape(1, -1)


def _scratch(like: np.ndarray, slot: int) -> np.ndarray:
    """A per-thread buffer shaped like the block ``like`` (see ``_parallel.scratch``)."""
    return _parallel.scratch(like.size, like.dtype, slot).reshape(like.shape)


def _cosine_grads(
    x1: np.ndarray,
    x2: np.ndarray,
    needs: tuple[bool, ...],
    f1: tuple[np.ndarray, np.ndarray],
    f2: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The gradients of a cosine along rows, ``g1 = x2 k1 - x1 q1`` and ``g2 = x1 k2 - x2 q2``
    (``f1 = (k1, q1)``, ``f2 = (k2, q2)``: one factor per row, ``(N, 1)``), each written once in
    row blocks over the pool; None for an input in ``needs[:2]`` that needs none."""
    a, b = _rows(x1), _rows(x2)
    g1 = np.empty(x1.shape, x1.dtype) if needs[0] else None
    g2 = np.empty(x2.shape, x2.dtype) if needs[1] else None

    def block(r0: int, r1: int) -> None:
        ab, bb = a[r0:r1], b[r0:r1]
        for grad, other, own, (k, q) in ((g1, bb, ab, f1), (g2, ab, bb, f2)):
            if grad is not None:
                o = _rows(grad)[r0:r1]
                np.multiply(other, k[r0:r1], out=o)
                o -= np.multiply(own, q[r0:r1], out=_scratch(own, 0))

    _parallel.map_rows(block, *a.shape)
    return g1, g2


def _two_norms_into(rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The 2-norm of each row of an ``(n, D)`` block into ``out``: ``|x|`` for one-element rows
    (as torch, so no overflow above sqrt(float max)), else ``sqrt(x.x)``."""
    if rows.shape[1] == 1:
        return np.abs(rows[:, 0], out=out)
    return np.sqrt(_einsum("ij,ij->i", rows, rows), out=out)


def _diff_norms(x1: np.ndarray, x2: np.ndarray, p: float, eps: float) -> tuple[Any, np.ndarray]:
    """``u = x1 - x2 + eps`` and ``||u||_p`` over the last axis (p = 1 or 2; ``(N, D)`` or
    ``(D)`` inputs of one shape), in cache-sized blocks of rows over the thread pool: each input
    is read once, ``u`` written once (it is kept for the backward)."""
    u = np.empty(x1.shape, x1.dtype)
    a, b, ur = _rows(x1), _rows(x2), _rows(u)
    n, d = ur.shape
    norm = np.empty(n, x1.dtype)
    e = x1.dtype.type(eps)

    def block(r0: int, r1: int) -> None:
        ub = np.subtract(a[r0:r1], b[r0:r1], out=ur[r0:r1])
        ub += e
        if p == 2:
            _two_norms_into(ub, norm[r0:r1])
        else:
            mag = np.abs(ub, out=_scratch(ub, 0))
            np.dot(mag, _parallel.ones(d, ub.dtype), out=norm[r0:r1])

    _parallel.map_rows(block, n, d)
    return u, norm.reshape(x1.shape[:-1])


def _norm_grad_into(out: np.ndarray, u: np.ndarray, k: np.ndarray, p: float) -> None:
    """``out = k * d||u||_p/du`` per row (``(N, D)`` blocks, ``k`` one factor per row, ``(N, 1)``):
    ``u * k`` for p = 2 (``k`` already divided by the norm), ``sgn(u) * k`` for p = 1, with
    torch's ``sgn`` (0 at 0 and at NaN, ``lossgrad.ops._common.sgn_into``)."""
    if p == 2:
        np.multiply(u, k, out=out)
        return
    sgn_into(u, out)
    out *= k


def _np_vector_norm(d: np.ndarray, p: float, axis: int, keepdim: bool) -> np.ndarray:
    """torch's ``vector_norm`` along one axis of an array (p = 0, ±inf, or any real); float16
    is computed in float32 and rounded once, as torch's Half norm."""
    if d.dtype == np.float16:
        return _np_vector_norm(d.astype(np.float32), p, axis, keepdim).astype(np.float16)
    if p != 0 and d.shape[axis] == 1:  # torch: |x| for any p, also where |x|^p overflows
        out = np.abs(d) if keepdim else np.abs(np.squeeze(d, axis))
        return out
    if p == 2:
        out = np.sqrt(_einsum("...i,...i->...", d, d) if axis == d.ndim - 1 else (d * d).sum(axis))
        return np.expand_dims(out, axis) if keepdim else out
    a = np.abs(d)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if p == 0:
            out = (a != 0).sum(axis, dtype=d.dtype)
        elif p == 1:
            out = a.sum(axis)
        elif math.isinf(p):
            out = a.max(axis) if p > 0 else a.min(axis)
        else:
            out = np.power(np.power(a, d.dtype.type(p)).sum(axis), d.dtype.type(1.0 / p))
    return np.expand_dims(out, axis) if keepdim else out


def _norm_backward(
    g: Tensor, d: Tensor, p: float, out: Tensor, axis: int, keepdim: bool
) -> Tensor | None:
    """torch's ``norm_backward`` for the vector norm ``out`` of ``d`` along ``axis``, written with
    differentiable ops so that second derivatives match torch's (masks included)."""
    if not keepdim and d._data.ndim:
        g, out = unsqueeze(g, axis), unsqueeze(out, axis)
    if p == 0:
        return None
    if p == 1:
        return mul(sign(d), g)
    if p == 2:
        return mul(g, where(eq(out, 0), 0.0, div(d, out)))
    a = _abs(d)
    if math.isinf(p):
        mask = logical_or(eq(a, out), isnan(a)).to(d.dtype)
        return mul(sign(d), mul(div(g, _sum(mask, axis, True)), mask))
    if p < 1:
        scaled = mul(sign(d), where(eq(d, 0), 0.0, pow(a, p - 1)))
        return mul(mul(scaled, g), pow(out, 1 - p))
    scale = where(eq(out, 0), 0.0, div(g, pow(out, p - 1)))
    scaled = mul(sign(d), pow(a, p - 1)) if p < 2 else mul(d, pow(a, p - 2))
    return mul(scaled, scale)


class _NormOf(ArrayFunction):
    """A norm ``out`` of ``d`` along ``axis``, already computed, as a node of ``d``.

    The distances' ``create_graph`` backward recomputes the difference ``d = x1 - x2 + eps``
    and takes its norm through this node: torch's graph of ``pairwise_distance`` (difference,
    then norm), in which a second derivative's terms through ``d`` and through the norm add up
    at ``d``, before they reach the inputs (where a norm's curvature is 0, as for one-element
    rows, they cancel there exactly, as in torch)."""

    node_name = "NormBackward1"

    @staticmethod
    def forward(
        ctx: Any, d: np.ndarray, out: np.ndarray, p: float, axis: int, keepdim: bool
    ) -> np.ndarray:
        out = out.view()
        ctx.save_for_backward(d, out)
        ctx.meta = (p, axis, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        d, out = ctx.saved_tensors
        p, axis, keepdim = ctx.meta
        return _norm_backward(g, d, p, out, axis, keepdim), None, None, None, None


def _difference_and_norm(
    x1: Tensor,
    x2: Tensor,
    p: float,
    eps: float,
    axis: int,
    keepdim: bool = False,
    out: np.ndarray | None = None,
) -> tuple[Tensor, Tensor]:
    """``d = x1 - x2 + eps`` and its norm along ``axis`` (``out``, if already computed),
    recorded as torch records ``pairwise_distance`` (see `_NormOf`)."""
    d = add(sub(x1, x2), eps)
    if out is None:
        out = np.asarray(_np_vector_norm(d._data, p, axis, keepdim), d._data.dtype)
    return d, _NormOf.apply(d, out, p, axis, keepdim)


def _fused_rows(p: float, *arrays: np.ndarray) -> bool:
    """Whether the fused row kernels apply: p = 1 or 2 and ``(N, D)`` or ``(D)`` float32/float64
    arrays of one shape (anything else takes the general path)."""
    if p != 1 and p != 2:
        return False
    shape, dt = arrays[0].shape, arrays[0].dtype
    if not (0 < len(shape) <= 2 and dt.char in "fd"):
        return False
    for a in arrays:  # a loop, not all() over a generator: called once per distance
        if a.shape != shape or a.dtype != dt:
            return False
    return True


def _fused_distance_rows(p: float, *arrays: np.ndarray) -> bool:
    """`_fused_rows` for distances, whose fused gradient is ``u * (g / |u|)``: rows of more than
    one feature. One-element rows take the general path, torch's ``g * (u / |u|)``, exactly
    ``+-g`` (the fused product is an ulp off), so that two distances' gradients cancel as in
    torch."""
    return _fused_rows(p, *arrays) and arrays[0].shape[-1] > 1


def _row_factor(k: np.ndarray, norm: np.ndarray, p: float) -> np.ndarray | None:
    """A per-row gradient factor as an ``(N, 1)`` column, divided by the norm for p = 2 (0 where
    the norm is 0: torch's ``masked_fill_(result == 0, 0)``). None where that quotient overflows
    in some row (a subnormal norm): torch's ``g * (u / norm)`` is finite there, so the caller
    takes torch's order (its ``backward``). The check is one dot product of the N factors (a
    third of ``isinf(k).any()``'s cost on small rows); a factor above the square root of the
    float maximum, or NaN, also takes torch's order, which is as right, only slower."""
    if p == 2:
        k = np.asarray(k / norm)  # a new array (0-d for one row)
        k[norm == 0] = 0  # cheaper than np.where's three operands on small rows
        flat = k.ravel()  # (N, 1) with keepdim
        if not math.isfinite(flat.dot(flat)):
            return None
    return np.asarray(k, norm.dtype).reshape(-1, 1)


class _DistanceArgs(NamedTuple):
    """The constant arguments of ``_PairwiseDistance``: the norm's ``p``, ``eps`` and
    ``keepdim``."""

    p: float
    eps: float
    keepdim: bool


class _PairwiseDistance(ArrayFunction):
    """``||x1 - x2 + eps||_p`` over the last dim, fused: one difference, one norm.

    For p = 1 or 2 on same-shape rows (``_fused_distance_rows``) the difference is kept for the
    first-order backward (``_norm_grad_into``, one pass per gradient); otherwise the backward
    recomputes it. With a recorded graph the backward is torch's ``norm_backward`` with ops."""

    node_name = "NormBackward1"

    @staticmethod
    def forward(ctx: Any, x1: np.ndarray, x2: np.ndarray, args: _DistanceArgs) -> np.ndarray:
        p, eps, keepdim = args.p, args.eps, args.keepdim
        ctx.meta = (p, eps, keepdim, max(max(x1.ndim, x2.ndim) - 1, 0))
        if _fused_distance_rows(p, x1, x2):
            ctx.u, out = _diff_norms(x1, x2, p, eps)
            if keepdim:
                out = out[..., None]
        else:
            ctx.u = None
            d = np.subtract(x1, x2)
            d += d.dtype.type(eps)
            axis = max(d.ndim - 1, 0)
            out = np.asarray(_np_vector_norm(d, p, axis, keepdim) if d.ndim else np.abs(d), d.dtype)
        ctx.save_for_backward(x1, x2, out)
        return out

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The fused rows: ``k * dnorm/du`` in blocks, then its negative for ``x2``."""
        u = ctx.u
        if u is None:
            return backward_via_tensors(ctx, g)
        x1, x2, out = ctx._saved_arrays()
        p = ctx.meta[0]
        k = _row_factor(g, out, p)
        if k is None:
            return backward_via_tensors(ctx, g)
        need1, need2 = ctx.needs_input_grad[:2]
        g1 = np.empty(u.shape, u.dtype)
        ur, g1r = _rows(u), _rows(g1)
        g2 = g2r = None
        if need2:
            g2 = np.empty(u.shape, u.dtype)
            g2r = _rows(g2)

        def block(r0: int, r1: int) -> None:
            _norm_grad_into(g1r[r0:r1], ur[r0:r1], k[r0:r1], p)
            if g2r is not None:
                np.negative(g1r[r0:r1], out=g2r[r0:r1])

        _parallel.map_rows(block, *ur.shape)
        return (g1 if need1 else None), g2, None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x1, x2, out = ctx.saved_tensors
        p, eps, keepdim, axis = ctx.meta
        gd: Tensor | None
        if p == 2 and not grad_mode.is_grad_enabled():
            # first order, nothing recorded: torch's p=2 formula directly on the arrays
            d = np.asarray(np.subtract(x1._data, x2._data))
            d += d.dtype.type(eps)
            o, go = out._data, g._data
            if not keepdim and d.ndim:
                o, go = np.expand_dims(o, axis), np.expand_dims(go, axis)
            # torch's g * (d / out) (0 where out == 0, its mask): g / out first overflows
            # where out is tiny (a float16 norm of about eps)
            with np.errstate(divide="ignore", invalid="ignore"):
                d /= o
            np.copyto(d, 0, where=o == 0)
            d *= go
            gd = Tensor._make(d)
        else:
            d, norm = _difference_and_norm(x1, x2, p, eps, axis, keepdim, out._data)
            gd = _norm_backward(g, d, p, norm, axis, keepdim)
        if gd is None:
            return None, None, None
        g1 = sum_to_shape(gd, x1._data.shape) if ctx.needs_input_grad[0] else None
        g2 = sum_to_shape(neg(gd), x2._data.shape) if ctx.needs_input_grad[1] else None
        return g1, g2, None


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """p-norm distance between the rows of ``x1`` and ``x2`` (torch's ``F.pairwise_distance``).

    Formula: ``d = ||x1 - x2 + eps||_p`` over the last dimension, i.e.
    ``(sum_i |x1_i - x2_i + eps|^p)^(1/p)``; ``p=inf`` is the max, ``p=-inf`` the min of the
    absolute differences and ``p=0`` counts the non-zero ones.

    Gradient: with ``u = x1 - x2 + eps``, ``dd/dx1 = -dd/dx2 = sgn(u) |u|^(p-1) / d^(p-1)``
    (``u / d`` for p=2); at ``p=inf`` it is shared evenly among the tied largest entries, and it
    is zero for ``p=0``.

    Args:
        x1: ``(N, D)`` or ``(D)``; may broadcast against ``x2``.
        x2: ``(N, D)`` or ``(D)``.
        p: the norm degree (any real, or ±inf). Default 2.
        eps: added to the difference (not to the norm). Default 1e-6.
        keepdim: keep the reduced last dimension. Default False.

    Returns:
        ``(N)`` (``(N, 1)`` with keepdim), or ``()`` for 1-D inputs.

    Note:
        Because ``eps`` shifts the difference, ``pairwise_distance(a, a)`` is ``eps * D**(1/p)``
        and its gradient is defined, as in torch. Integer inputs are promoted to the default
        float. Second derivatives are supported and follow torch's ``norm_backward``.

    Example:
        >>> import lossgrad as torch
        >>> x1, x2 = torch.tensor([[3., 4.]]), torch.tensor([[0., 0.]])
        >>> torch.nn.functional.pairwise_distance(x1, x2, eps=0.0)
        tensor([5.])
    """
    _checks.check_tensor(x1, "x1")
    _checks.check_tensor(x2, "x2")
    d1, d2 = x1._data, x2._data
    if d1.shape != d2.shape or d1.dtype != d2.dtype or d1.dtype.kind != "f":
        _, (x1, x2, _) = promote(x1, x2, float(eps))
        try:
            np.broadcast_shapes(x1._data.shape, x2._data.shape)
        except ValueError:
            raise broadcast_error(x1._data.shape, x2._data.shape) from None
    return _PairwiseDistance.apply(x1, x2, _DistanceArgs(float(p), float(eps), bool(keepdim)))


class _ClampMinStraightThrough(ArrayFunction):
    """``max(x, eps)`` in value, identity for autograd (torch's clamp under ``no_grad``)."""

    node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, eps: float) -> np.ndarray:
        return np.maximum(a, a.dtype.type(eps))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return g, None


class _CosineSimilarity(ArrayFunction):
    """``sum(x1 / c1 * x2 / c2, dim)`` with ``c = max(||x||, eps)``, fused.

    The gradient is ``g / c1 * (x2 / c2 - cos * x1 / ||x1||)`` (the last term 0 where
    ``||x1|| = 0``; the clamp passes the norm's gradient straight through, as torch's no-grad
    clamp does). Without a recorded graph it runs on the arrays; with one it is built from the
    norm and clamp ops, so second derivatives are those of torch's composite.
    """

    node_name = "SumBackward1"

    @staticmethod
    def forward(
        ctx: Any, x1: np.ndarray, x2: np.ndarray, axis: int | None, eps: float
    ) -> np.ndarray:
        if axis is not None and axis == x1.ndim - 1 and _fused_rows(2, x1, x2):
            # rows: norms, normalised copies and their dot product per cache block (torch's
            # order of operations), on the thread pool
            a, b = _rows(x1), _rows(x2)
            n, d = a.shape
            n1, n2, out = np.empty(n, x1.dtype), np.empty(n, x1.dtype), np.empty(n, x1.dtype)
            floor = x1.dtype.type(eps)

            def block(r0: int, r1: int) -> None:
                ab, bb = a[r0:r1], b[r0:r1]
                m1 = _two_norms_into(ab, n1[r0:r1])
                m2 = _two_norms_into(bb, n2[r0:r1])
                u = np.divide(ab, np.maximum(m1, floor)[:, None], out=_scratch(ab, 0))
                v = np.divide(bb, np.maximum(m2, floor)[:, None], out=_scratch(bb, 1))
                _einsum("ij,ij->i", u, v, out=out[r0:r1])

            _parallel.map_rows(block, n, d)
            lead = x1.shape[:-1]
            res = out.reshape(lead)
            ctx.save_for_backward(x1, x2, res)
            ctx.meta = (axis, eps, (n1.reshape(lead + (1,)), n2.reshape(lead + (1,))))
            ctx.fused = True
            return res
        ctx.fused = False
        keep = () if axis is None else (axis,)
        n1 = np.sqrt(np.sum(x1 * x1, axis=keep, keepdims=True))
        n2 = np.sqrt(np.sum(x2 * x2, axis=keep, keepdims=True))
        floor = x1.dtype.type(eps)
        v = x2 / np.maximum(n2, floor)
        out = np.asarray(np.sum(x1 / np.maximum(n1, floor) * v, axis=keep))
        ctx.save_for_backward(x1, x2, out)
        ctx.meta = (axis, eps, (n1, n2))
        return out

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The fused rows: ``g1 = x2 * g / (c1 c2) - x1 * g cos / (c1 ||x1||)`` (and
        symmetrically ``g2``) with per-row factors, each gradient written once per block."""
        if not ctx.fused:
            return backward_via_tensors(ctx, g)
        x1, x2, out = ctx._saved_arrays()
        eps, (n1, n2) = ctx.meta[1], ctx.meta[2]
        n1, n2 = n1.reshape(-1, 1), n2.reshape(-1, 1)
        gk, ok, zero = g.reshape(-1, 1), out.reshape(-1, 1), n1.dtype.type(0)
        floor = n1.dtype.type(eps)
        h1, h2 = gk / np.maximum(n1, floor), gk / np.maximum(n2, floor)
        # x2's factor in g1 and x1's in g2, then the norms' terms (0 where a norm is 0)
        k1, k2 = h1 / np.maximum(n2, floor), h2 / np.maximum(n1, floor)
        q1 = np.where(n1 == 0, zero, h1 * ok / n1)
        q2 = np.where(n2 == 0, zero, h2 * ok / n2)
        g1, g2 = _cosine_grads(x1, x2, ctx.needs_input_grad, (k1, q1), (k2, q2))
        return g1, g2, None, None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x1, x2, out = ctx.saved_tensors
        axis, eps, (n1, n2) = ctx.meta
        keep = () if axis is None else (axis,)
        if not grad_mode.is_grad_enabled():
            gk, ok = g._data, out._data
            if axis is not None:
                gk, ok = np.expand_dims(gk, axis), np.expand_dims(ok, axis)
            floor = n1.dtype.type(eps)
            c1, c2 = np.maximum(n1, floor), np.maximum(n2, floor)
            with np.errstate(divide="ignore", invalid="ignore"):
                u1 = np.where(n1 == 0, 0, x1._data / n1)
                u2 = np.where(n2 == 0, 0, x2._data / n2)
            g1 = Tensor._make(gk / c1 * (x2._data / c2 - ok * u1))
            g2 = Tensor._make(gk / c2 * (x1._data / c1 - ok * u2))
            return g1, g2, None, None
        if axis is not None:
            g, out = unsqueeze(g, axis), unsqueeze(out, axis)
        m1, m2 = _norm(x1, 2, keep, True), _norm(x2, 2, keep, True)
        c1 = _ClampMinStraightThrough.apply(m1, eps)
        c2 = _ClampMinStraightThrough.apply(m2, eps)
        u1 = where(eq(m1, 0), 0.0, div(x1, m1))
        u2 = where(eq(m2, 0), 0.0, div(x2, m2))
        g1 = mul(div(g, c1), sub(div(x2, c2), mul(out, u1)))
        g2 = mul(div(g, c2), sub(div(x1, c1), mul(out, u2)))
        return g1, g2, None, None


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (``F.cosine_similarity``).

    Formula: ``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps), dim)`` with 2-norms along
    ``dim``: each input is normalised first, so the result stays in [-1, 1] and the dot product
    never overflows.

    Gradient: ``x2_hat / c1 - cos * x1 / (c1 ||x1||)`` for ``x1`` (``c1`` the clamped norm,
    the last term 0 where ``||x1|| = 0``), symmetrically for ``x2``. The clamp is invisible to
    autograd, exactly as torch's in-place clamp under ``no_grad``.

    Args:
        x1: any shape ``(*)``, broadcastable with ``x2``.
        x2: any shape ``(*)``.
        dim: the dimension of the common shape to reduce. Default 1.
        eps: the floor of each norm. Default 1e-8.

    Returns:
        The broadcast shape without ``dim``.

    Note:
        Integer inputs are promoted when the common dtype is floating; two integer inputs raise
        RuntimeError, as in torch. A zero vector gives cosine 0 (and a gradient of size
        ``1/eps``, as in torch). Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> x1, x2 = torch.tensor([[1., 0.]]), torch.tensor([[1., 1.]])
        >>> torch.nn.functional.cosine_similarity(x1, x2)
        tensor([0.7071])
    """
    _checks.check_tensor(x1, "x1")
    _checks.check_tensor(x2, "x2")
    dt = _dtype.result_type(x1._data, x2._data)
    if dt.kind != "f":
        raise RuntimeError(
            "expected common dtype to be floating point, yet common dtype is "
            f"{_checks.scalar_type_name(dt)}"
        )
    a = x1 if x1._data.dtype == dt else x1.to(dt)
    b = x2 if x2._data.dtype == dt else x2.to(dt)
    a, b = _checks.broadcast_pair(a, b)
    axis = normalize_dims(dim, a._data.ndim)
    return _CosineSimilarity.apply(a, b, axis[0] if axis else None, float(eps))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
