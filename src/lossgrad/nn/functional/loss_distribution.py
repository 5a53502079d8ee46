"""Distances between distributions and between samples: losses torch lacks.

- ``wasserstein_1d`` and ``energy_distance``: exact one-dimensional distances between weighted
  samples, from sorted values and cumulated weights (SciPy's and POT's algorithms);
- ``js_divergence``: Jensen–Shannon divergence between discrete distributions;
- ``mmd_loss``: kernel maximum mean discrepancy (Gaussian, Laplacian, energy kernels) and
  ``sinkhorn_loss``: the debiased Sinkhorn divergence with epsilon-scaling, both between point
  clouds, following geomloss's ``SamplesLoss`` (tensorized backend) step for step.

All are composites of lossgrad ops: gradients reach the values (and the weights), and autograd
gives second derivatives. Sorting and ``searchsorted`` only choose indices (piecewise constant),
so they are done on the arrays and the values are gathered differentiably.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops.index import sort, take_along_dim
from lossgrad.ops.pointwise import where
from lossgrad.ops.reduce import cumsum
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import cat

# -- one-dimensional distances ---------------------------------------------------------------------


def _samples_1d(values: Tensor, weights: Tensor | None, name: str) -> tuple[Tensor, Tensor]:
    """Values (n,) or (n, k) and their weights normalised to sum 1 along dim 0 (uniform when
    None), with ValueErrors naming the argument."""
    _checks.check_tensor(values, name)
    if values.dim() not in (1, 2) or values.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n,) or (n, k) tensor, got {values.size()}")
    if weights is None:
        return values, Tensor._make(
            np.full(values.shape, 1.0 / values.shape[0], values._data.dtype)
        )
    weight_name = name.replace("values", "weights")
    _checks.check_tensor(weights, weight_name)
    if weights.dim() == 1 and values.dim() == 2:
        weights = weights.unsqueeze(1).expand(values.shape)
    if weights.shape != values.shape:
        raise ValueError(
            f"{weight_name} of size {weights.size()} does not match {name} of size {values.size()}"
        )
    if (weights._data < 0).any() or not (weights._data.sum(0) > 0).all():
        raise ValueError(f"{weight_name} must be non-negative with a positive sum")
    return values, weights / _sum(weights, 0, keepdim=True)


def _check_columns(u_values: Tensor, v_values: Tensor) -> None:
    if u_values.dim() != v_values.dim() or u_values.shape[1:] != v_values.shape[1:]:
        raise ValueError(
            f"u_values of size {u_values.size()} and v_values of size "
            f"{v_values.size()} must have the same number of columns"
        )


def _searchsorted(sorted_rows: np.ndarray, queries: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted`` along dim 0 of (n,) or (n, k) arrays (column by column)."""
    if sorted_rows.ndim == 1:
        return np.searchsorted(sorted_rows, queries, side)
    columns = [np.searchsorted(c, q, side) for c, q in zip(sorted_rows.T, queries.T)]
    return np.stack(columns, 1)


def _sorted_with_cdf(values: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """The values sorted along dim 0 and the cumulated weights in that order."""
    order = Tensor._make(np.argsort(values._data, axis=0, kind="stable"))
    return take_along_dim(values, order, 0), cumsum(take_along_dim(weights, order, 0), 0)


def wasserstein_1d(
    u_values: Tensor,
    v_values: Tensor,
    u_weights: Tensor | None = None,
    v_weights: Tensor | None = None,
    p: float = 1,
) -> Tensor:
    """Exact Wasserstein distance between two weighted samples on the line (its p-th power).

    With ``F_u^-1`` and ``F_v^-1`` the quantile functions of the two distributions::

        W_p^p = integral over t in (0, 1) of |F_u^-1(t) - F_v^-1(t)|**p dt

    evaluated exactly: the quantile functions are step functions that change only at the
    cumulated weights of either sample. The result is ``W_p**p`` (``W_1`` at ``p = 1``); take
    ``** (1 / p)`` for the distance itself.

    Gradient: in each value, ``p |F_u^-1 - F_v^-1|**(p-1) sign(...)`` times the length of the
    quantile interval where that value is the quantile; in the weights, through the interval
    lengths.

    Equal to POT's ``ot.wasserstein_1d(u_values, v_values, u_weights, v_weights, p)`` (whose
    weights must already sum to 1; here they are normalised, as SciPy does) and, at ``p = 1``,
    to ``scipy.stats.wasserstein_distance``. A second dimension ``k`` holds ``k`` independent
    pairs of distributions (POT's convention).

    Args:
        u_values: sample of the first distribution, ``(n,)`` or ``(n, k)``.
        v_values: sample of the second, ``(m,)`` or ``(m, k)``.
        u_weights: non-negative weights of ``u_values`` (normalised). Default uniform.
        v_weights: the same for ``v_values``. Default uniform.
        p: the order, ``>= 1``. Default 1.

    Returns:
        ``W_p**p``: a scalar, or ``(k,)``.

    References:
        Villani, "Optimal Transport: Old and New", 2009 (remark 2.19); POT ``ot.lp.solver_1d``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.wasserstein_1d(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([5.0, 6.0, 8.0]))
        tensor(5.)
    """
    if not p >= 1:
        raise ValueError(f"p must be >= 1, got {p}")
    u_sorted, u_cdf = _sorted_with_cdf(*_samples_1d(u_values, u_weights, "u_values"))
    v_sorted, v_cdf = _sorted_with_cdf(*_samples_1d(v_values, v_weights, "v_values"))
    _check_columns(u_sorted, v_sorted)
    levels, _ = sort(cat([u_cdf, v_cdf], 0), dim=0)

    def quantiles(sorted_values: Tensor, cdf: Tensor) -> Tensor:
        index = _searchsorted(cdf._data, levels._data, "left").clip(0, cdf.shape[0] - 1)
        return take_along_dim(sorted_values, Tensor._make(index), 0)

    gaps = (quantiles(u_sorted, u_cdf) - quantiles(v_sorted, v_cdf)).abs()
    steps = levels - cat([levels[:1] * 0.0, levels[:-1]], 0)
    return _sum(steps * (gaps if p == 1 else gaps**p), 0)


def energy_distance(
    u_values: Tensor,
    v_values: Tensor,
    u_weights: Tensor | None = None,
    v_weights: Tensor | None = None,
) -> Tensor:
    """Energy distance between two weighted samples on the line.

    With ``U`` and ``V`` the cumulative distribution functions::

        D = sqrt(2 * integral of (U(x) - V(x))**2 dx)
          = sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|)

    computed exactly from the sorted pooled sample (SciPy's algorithm). Gradient: in the values
    through the interval lengths between pooled sorted values, in the weights through the CDFs;
    0 where ``D = 0`` (it is not differentiable there).

    Equal to ``scipy.stats.energy_distance(u_values, v_values, u_weights, v_weights)``. For
    point clouds in several dimensions, ``mmd_loss(kernel='energy')`` is the squared,
    halved counterpart.

    Args:
        u_values: sample of the first distribution, ``(n,)`` or ``(n, k)``.
        v_values: sample of the second, ``(m,)`` or ``(m, k)``.
        u_weights: non-negative weights of ``u_values`` (normalised). Default uniform.
        v_weights: the same for ``v_values``. Default uniform.

    Returns:
        A scalar, or ``(k,)``.

    References:
        Székely & Rizzo, "Energy statistics: A class of statistics based on distances", 2013.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.energy_distance(torch.tensor([0.0, 8.0]), torch.tensor([0.0, 8.0]))
        tensor(0.)
        >>> F.energy_distance(torch.tensor([0.0]), torch.tensor([2.0]))
        tensor(2.)
    """
    u_sorted, u_cdf = _sorted_with_cdf(*_samples_1d(u_values, u_weights, "u_values"))
    v_sorted, v_cdf = _sorted_with_cdf(*_samples_1d(v_values, v_weights, "v_values"))
    _check_columns(u_sorted, v_sorted)
    pooled, _ = sort(cat([u_sorted, v_sorted], 0), dim=0)
    lengths = pooled[1:] - pooled[:-1]

    def cdf_at(sorted_values: Tensor, cdf: Tensor) -> Tensor:
        count = _searchsorted(sorted_values._data, pooled._data[:-1], "right")
        with_zero = cat([cdf[:1] * 0.0, cdf], 0)
        return take_along_dim(with_zero, Tensor._make(count), 0)

    total = _sum((cdf_at(u_sorted, u_cdf) - cdf_at(v_sorted, v_cdf)).square() * lengths, 0)
    positive = total > 0
    return where(positive, (2.0 * where(positive, total, 1.0)).sqrt(), 0.0)


# -- discrete distributions ------------------------------------------------------------------------


def _x_log_x(x: Tensor) -> Tensor:
    """``x log x`` with ``0 log 0 = 0``; gradient ``log x + 1`` (0 at ``x = 0``, never NaN)."""
    return x * where(x > 0, x, 1.0).log()


def js_divergence(input: Tensor, target: Tensor, dim: int = -1, reduction: str = "mean") -> Tensor:
    """Jensen–Shannon divergence between discrete distributions (natural log).

    With ``m = (p + q) / 2`` along ``dim``::

        JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2
                 = sum (p log p + q log q) / 2 - sum m log m      (0 log 0 = 0)

    Gradient: ``dJS/dp = (log p - log m) / 2``.

    Symmetric, bounded by ``log 2``, finite where one distribution has zeros the other does
    not (unlike KL). Equal to the square of ``scipy.spatial.distance.jensenshannon(p, q,
    axis=dim)`` for distributions that sum to 1 (SciPy normalises them first).

    Args:
        input: probabilities ``p`` (summing to 1 along ``dim``), any shape.
        target: probabilities ``q``, input's shape.
        dim: the dimension of the distributions. Default -1.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` over the distributions. Default
            ``'mean'``.

    Returns:
        A scalar, or one divergence per distribution (``dim`` removed) for ``'none'``.

    References:
        Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 1991.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
        tensor(0.6931)
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_same_size(input, _checks.check_tensor(target, "target"))
    middle = 0.5 * (input + target)
    own = 0.5 * (_x_log_x(input) + _x_log_x(target)) - _x_log_x(middle)
    return _reduction.apply(_sum(own, dim), reduction)


# -- point clouds: kernels and optimal transport ---------------------------------------------------


def _clouds(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Point clouds ``(N, D)``/``(M, D)`` or batched ``(B, N, D)``/``(B, M, D)``, as batched."""
    _checks.check_tensor(x, "x")
    _checks.check_tensor(y, "y")
    if (
        x.dim() not in (2, 3)
        or y.dim() != x.dim()
        or x.shape[-1] != y.shape[-1]
        or (x.dim() == 3 and x.shape[0] != y.shape[0])
    ):
        raise ValueError(
            f"x and y must be point clouds (N, D) and (M, D), or (B, N, D) and (B, M, D), "
            f"got x of size {x.size()} and y of size {y.size()}"
        )
    if x.dim() == 2:
        return x.unsqueeze(0), y.unsqueeze(0), False
    return x, y, True


def _cloud_weights(weights: Tensor | None, points: Tensor, name: str) -> Tensor:
    """Weights ``(B, N)``: uniform ``1/N`` by default (geomloss), else as given."""
    if weights is None:
        return Tensor._make(np.full(points.shape[:2], 1.0 / points.shape[1], points._data.dtype))
    _checks.check_tensor(weights, name)
    if weights.dim() == 1:
        weights = weights.unsqueeze(0)
    if weights.shape != points.shape[:2]:
        raise ValueError(
            f"{name} of size {weights.size()} does not match the points {tuple(points.shape[:2])}"
        )
    return weights


def _squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """``|x_i - y_j|**2`` as ``|x_i|**2 - 2 x_i.y_j + |y_j|**2`` (one matrix product; geomloss's
    tensorized formula), ``(B, N, M)``."""
    return (
        _sum(x * x, -1).unsqueeze(2) - 2.0 * (x @ y.transpose(1, 2)) + _sum(y * y, -1).unsqueeze(1)
    )


def _distances(x: Tensor, y: Tensor) -> Tensor:
    """``|x_i - y_j|``, with geomloss's floor of 1e-8 on the square (gradient 0 at ties)."""
    return _squared_distances(x, y).clamp_min(1e-8).sqrt()


_KERNELS = ("gaussian", "laplacian", "energy")


def _kernel_of_square(name: str, squared: Any, blur: float, xp: Any) -> tuple[Any, Any]:
    """The kernel ``K = phi(s)`` of the squared distances ``s`` and its slope ``dK/ds``, on
    arrays (``xp`` = numpy) or Tensors (``xp`` = a namespace of lossgrad ops), with geomloss's
    floor ``1e-8`` on the squares under a square root (slope 0 below it)."""
    if name == "gaussian":
        kernel = xp.exp(squared * (-0.5 / blur**2))
        return kernel, kernel * (-0.5 / blur**2)
    floor = 1e-8 * blur**2 if name == "laplacian" else 1e-8
    above = squared > floor
    root = xp.sqrt(xp.where(above, squared, floor))
    if name == "laplacian":
        kernel = xp.exp(root * (-1.0 / blur))
        return kernel, xp.where(above, kernel * (-0.5 / blur) / root, 0.0)
    return -root, xp.where(above, -0.5 / root, 0.0)


class _TensorOps:
    """The few lossgrad ops ``_kernel_of_square`` uses, under NumPy's names."""

    exp = staticmethod(lambda t: t.exp())
    sqrt = staticmethod(lambda t: t.sqrt())
    where = staticmethod(where)


def _exp_of_non_positive(exponent: np.ndarray) -> np.ndarray:
    """``exp`` in place of exponents that are (about) at most 0, those below the log of the
    dtype's smallest normal number raised to it first: NumPy's ``exp`` runs up to ten times
    slower where its result underflows, and the floor moves a result by less than that
    smallest normal number (``1.2e-38`` in float32), beside a maximal term near 1."""
    np.maximum(exponent, math.ceil(math.log(np.finfo(exponent.dtype).tiny)), out=exponent)
    return np.exp(exponent, out=exponent)


def _kernel_products(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, name: str, blur: float
) -> tuple[np.ndarray, ...]:
    """For one cloud pair ``x (N, D)``, ``y (M, D)`` with weights ``a``, ``b``, and the kernel
    ``K = phi(s)`` of the squared distances with slope ``S = phi'(s)``: ``(K b, S [b, b y],
    K^T a, S^T [a, a x])``, of sizes ``(N,)``, ``(N, 1 + D)``, ``(M,)``, ``(M, 1 + D)``.

    Blocks of rows of ``x`` go over the thread pool, small enough for each matrix product to
    stay on its thread (`_parallel.map_products`); each block's distances come from one
    matrix product (``|x|**2 - 2 x.y + |y|**2`` as ``[x, |x|**2, 1] . [-2 y, 1, |y|**2]``,
    geomloss's expansion; for the Gaussian kernel scaled by ``-1 / (2 blur**2)``, so the kernel
    is one ``exp`` in place, and ``S = K * -1 / (2 blur**2)``), and the block is read by the
    four products while it is in cache: no ``(N, M)`` array is ever whole."""
    rows, columns = x.shape[0], y.shape[0]
    dtype = x.dtype
    gaussian = name == "gaussian"
    factor = -0.5 / blur**2 if gaussian else 1.0
    left = np.concatenate([x, (x * x).sum(1, keepdims=True), np.ones((rows, 1), dtype)], 1)
    right = np.concatenate([-2.0 * y, np.ones((columns, 1), dtype), (y * y).sum(1)[:, None]], 1)
    right = np.ascontiguousarray((right * dtype.type(factor)).T)
    weighted_y = np.concatenate([b[:, None], b[:, None] * y], 1)
    weighted_x = np.concatenate([a[:, None], a[:, None] * x], 1)

    def block(lo: int, hi: int) -> tuple[np.ndarray, ...]:
        buffer = _parallel.scratch((hi - lo) * columns, dtype, 1).reshape(hi - lo, columns)
        squared = np.matmul(left[lo:hi], right, out=buffer)
        if gaussian:
            kernel = _exp_of_non_positive(squared)
            row_products = kernel @ weighted_y
            column_products = kernel.T @ weighted_x[lo:hi]
            return (
                row_products[:, 0],
                row_products * dtype.type(factor),
                column_products[:, 0],
                column_products * dtype.type(factor),
            )
        kernel, slope = _kernel_of_square(name, squared, blur, np)
        return (
            kernel @ b,
            slope @ weighted_y,
            kernel.T @ a[lo:hi],
            slope.T @ weighted_x[lo:hi],
        )

    parts = _parallel.map_products(block, rows, columns, left.shape[1])
    return (
        np.concatenate([part[0] for part in parts]),
        np.concatenate([part[1] for part in parts]),
        np.sum([part[2] for part in parts], 0),
        np.sum([part[3] for part in parts], 0),
    )


class _KernelSum(ArrayFunction):
    """``sum_ij a_i K(x_i, y_j) b_j`` per batch, ``(B,)``, without keeping ``(N, M)`` arrays.

    With ``s_ij = |x_i - y_j|**2``, ``K = phi(s)`` and ``S = phi'(s)``, the gradients are
    ``2 a_i (x_i (S b)_i - (S (b y))_i)`` in ``x`` (and symmetrically in ``y``), ``K b`` in
    ``a`` and ``K^T a`` in ``b``: matrix products, which the forward computes with the value
    (`_kernel_products`, one pass over the kernel's blocks) and keeps for the first-order
    backward. The differentiable backward recomputes ``s`` and ``K`` with lossgrad ops, so
    second derivatives work.
    """

    node_name = "KernelSumBackward"

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, cfg: tuple[str, float]
    ) -> np.ndarray:
        ctx.save_for_backward(x, y, a, b)
        ctx.cfg = cfg
        values, kept = [], []
        for points, others, weights, other_weights in zip(x, y, a, b, strict=True):
            k_b, s_b, k_a, s_a = _kernel_products(points, others, weights, other_weights, *cfg)
            values.append(weights @ k_b)
            if not any(ctx.needs_input_grad[:4]):
                continue
            grad_x = 2.0 * weights[:, None] * (points * s_b[:, :1] - s_b[:, 1:])
            grad_y = 2.0 * other_weights[:, None] * (others * s_a[:, :1] - s_a[:, 1:])
            kept.append((grad_x, grad_y, k_b, k_a))
        ctx.kept = [np.stack(grads) for grads in zip(*kept, strict=True)]
        return np.asarray(values, x.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, a, b = ctx.saved_tensors
        name, blur = ctx.cfg
        kernel, slope = _kernel_of_square(name, _squared_distances(x, y), blur, _TensorOps)
        needs = ctx.needs_input_grad
        grads: list[Any] = [None] * 5
        if needs[0] or needs[1]:
            weights = (g.unsqueeze(1) * a).unsqueeze(2) * slope * b.unsqueeze(1)
            if needs[0]:
                grads[0] = 2.0 * (x * _sum(weights, 2).unsqueeze(2) - weights @ y)
            if needs[1]:
                moved = weights.transpose(1, 2)
                grads[1] = 2.0 * (y * _sum(moved, 2).unsqueeze(2) - moved @ x)
        if needs[2]:
            grads[2] = g.unsqueeze(1) * _sum(kernel * b.unsqueeze(1), 2)
        if needs[3]:
            grads[3] = g.unsqueeze(1) * _sum(kernel * a.unsqueeze(2), 1)
        return tuple(grads)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The gradients the forward kept, times the upstream gradient of each batch."""
        ctx._saved_arrays()  # torch's error for a freed graph
        needs = ctx.needs_input_grad
        return (
            *(
                kept * g.reshape(-1, *(1,) * (kept.ndim - 1)) if need else None
                for kept, need in zip(ctx.kept, needs, strict=False)
            ),
            None,
        )


def mmd_loss(
    x: Tensor,
    y: Tensor,
    x_weights: Tensor | None = None,
    y_weights: Tensor | None = None,
    kernel: str = "gaussian",
    blur: float = 0.05,
    reduction: str = "mean",
) -> Tensor:
    """Kernel maximum mean discrepancy between two weighted point clouds (half its square).

    With weights ``a`` (on ``x``) and ``b`` (on ``y``)::

        l = a^T K(x, x) a / 2 + b^T K(y, y) b / 2 - a^T K(x, y) b

    for the kernels ``gaussian``: ``exp(-|x - y|**2 / (2 blur**2))``, ``laplacian``:
    ``exp(-|x - y| / blur)``, ``energy``: ``-|x - y|`` (``blur`` unused). Distances are
    floored at ``1e-4`` (geomloss's ``sqrt(clamp_min(d**2, 1e-8))``).

    Gradient: ``dl/dx_i = a_i sum_j (a_j grad_1 K(x_i, x_j) - b_j grad_1 K(x_i, y_j))``.

    Equal to geomloss's ``SamplesLoss(kernel, blur=blur, backend='tensorized')(a, x, b, y)``
    (``SamplesLoss(kernel, blur=blur)(x, y)`` for uniform weights ``1/N`` and ``1/M``).

    Args:
        x: points ``(N, D)`` or a batch ``(B, N, D)``.
        y: points ``(M, D)`` or ``(B, M, D)``.
        x_weights: weights of ``x``, ``(N,)`` or ``(B, N)``. Default uniform ``1/N``.
        y_weights: weights of ``y``. Default uniform ``1/M``.
        kernel: ``'gaussian'`` | ``'laplacian'`` | ``'energy'``. Default ``'gaussian'``.
        blur: the kernel's length scale. Default 0.05 (geomloss).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` over the batch. Default ``'mean'``.

    Returns:
        A scalar (``(B,)`` for a batch with ``reduction='none'``).

    References:
        Gretton et al., "A Kernel Two-Sample Test", JMLR 2012; Feydy et al., "Interpolating
        between Optimal Transport and MMD using Sinkhorn Divergences", AISTATS 2019.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> F.mmd_loss(x, x + 0.1, kernel="energy")
        tensor(0.0732)
    """
    reduction = _reduction.resolve(reduction)
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be one of {_KERNELS}, got {kernel!r}")
    if not blur > 0:
        raise ValueError(f"blur must be positive, got {blur}")
    x, y, batched = _clouds(x, y)
    a = _cloud_weights(x_weights, x, "x_weights")
    b = _cloud_weights(y_weights, y, "y_weights")
    config = (kernel, float(blur))
    loss = (
        0.5 * _KernelSum.apply(x, x, a, a, config)
        + 0.5 * _KernelSum.apply(y, y, b, b, config)
        - _KernelSum.apply(x, y, a, b, config)
    )
    return _reduction.apply(loss if batched else loss[0], reduction)


def _log_weights(weights: Tensor) -> Tensor:
    """``log a``, with geomloss's ``-100000`` where ``a <= 0``."""
    positive = weights > 0
    return where(positive, where(positive, weights, 1.0).log(), -100000.0)


def _softmin(eps: float, cost: Tensor, h: Tensor) -> Tensor:
    """The soft c-transform ``f_i = -eps log sum_j exp(h_j - C_ij / eps)``, ``(B, N)``."""
    return _SoftCTransform.apply(cost, h, eps)


class _SoftCTransform(ArrayFunction):
    """``f_i = -eps logsumexp_j(h_j - C_ij / eps)`` that keeps no ``(N, M)`` intermediate.

    Its gradients use the transport plan of the row, ``P_ij = exp(h_j - C_ij / eps + f_i / eps)``
    (each row sums to 1): ``df_i/dC_ij = P_ij`` and ``df_i/dh_j = -eps P_ij``. The backward
    recomputes ``P`` from the saved cost, ``h`` and output, with lossgrad ops (so second
    derivatives work), instead of keeping the ``(N, M)`` input of a logsumexp for each of the
    Sinkhorn iterations: the exact gradient through all iterations then needs memory for the
    cost matrices and one plan at a time, not one matrix per iteration.
    """

    node_name = "SoftCTransformBackward"

    @staticmethod
    def forward(ctx: Any, cost: np.ndarray, h: np.ndarray, eps: float) -> np.ndarray:
        out = np.empty(cost.shape[:2], cost.dtype)
        for costs, shift, result in zip(cost, h, out, strict=True):
            _parallel.map_rows(
                lambda lo, hi, c=costs, s=shift, r=result: _soft_c_rows(c, s, eps, lo, hi, r),
                costs.shape[0],
                costs.shape[1],
            )
        ctx.save_for_backward(cost, h, out)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        cost, h, out = ctx.saved_tensors
        eps = ctx.eps
        plan = (h.unsqueeze(1) - cost / eps + out.unsqueeze(2) / eps).exp()
        weighted_plan = g.unsqueeze(2) * plan
        grad_cost = weighted_plan if ctx.needs_input_grad[0] else None
        grad_h = -eps * _sum(weighted_plan, 1) if ctx.needs_input_grad[1] else None
        return grad_cost, grad_h, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``backward`` on the arrays, in blocks of rows over the thread pool: each block's
        plan is computed once, in the gradient of the cost (or scratch) where it stays."""
        cost, h, out = ctx._saved_arrays()
        needs = ctx.needs_input_grad
        grad_cost = np.empty(cost.shape, cost.dtype) if needs[0] else None
        grad_h = np.empty(h.shape, h.dtype) if needs[1] else None
        for batch in range(cost.shape[0]):
            parts = _parallel.map_rows(
                lambda lo, hi, k=batch: _weighted_plan_rows(
                    cost[k], h[k], out[k], g[k], ctx.eps, lo, hi, grad_cost, k
                ),
                cost.shape[1],
                cost.shape[2],
            )
            if grad_h is not None:
                grad_h[batch] = sum(parts[1:], parts[0]) * h.dtype.type(-ctx.eps)
        return grad_cost, grad_h, None


def _soft_c_rows(
    cost: np.ndarray, h: np.ndarray, eps: float, lo: int, hi: int, out: np.ndarray
) -> None:
    """Rows ``lo:hi`` of the soft c-transform ``-eps logsumexp_j(h_j - C_ij / eps)`` into
    ``out[lo:hi]``, the block's exponents in a per-thread scratch buffer."""
    columns = cost.shape[1]
    buffer = _parallel.scratch((hi - lo) * columns, cost.dtype, 1).reshape(hi - lo, columns)
    exponent = np.multiply(cost[lo:hi], cost.dtype.type(-1.0 / eps), out=buffer)
    exponent += h
    top = exponent.max(1, keepdims=True)
    exponent -= top
    _exp_of_non_positive(exponent)
    total = np.log(exponent.sum(1))
    total += top[:, 0]
    np.multiply(total, cost.dtype.type(-eps), out=out[lo:hi])


def _weighted_plan_rows(
    cost: np.ndarray,
    h: np.ndarray,
    out: np.ndarray,
    g: np.ndarray,
    eps: float,
    lo: int,
    hi: int,
    grad_cost: np.ndarray | None,
    batch: int,
) -> np.ndarray:
    """Rows ``lo:hi`` of ``g_i P_ij`` with the plan ``P_ij = exp(h_j - C_ij / eps + f_i /
    eps)``, into ``grad_cost[batch]`` (when given); returns their column sums."""
    columns = cost.shape[1]
    plan = (
        grad_cost[batch, lo:hi]
        if grad_cost is not None
        else _parallel.scratch((hi - lo) * columns, cost.dtype, 1).reshape(hi - lo, columns)
    )
    inverse = cost.dtype.type(1.0 / eps)
    np.multiply(cost[lo:hi], -inverse, out=plan)
    plan += h
    plan += (out[lo:hi] * inverse)[:, None]
    _exp_of_non_positive(plan)
    plan *= g[lo:hi, None]
    return plan.sum(0)


def _epsilon_schedule(p: int, diameter: float, blur: float, scaling: float) -> list[float]:
    """geomloss's annealing: ``diameter**p``, then geometric steps of ``scaling**p`` down to
    ``blur**p``."""
    steps = np.arange(p * np.log(diameter), p * np.log(blur), p * np.log(scaling))
    return [diameter**p] + [float(np.exp(e)) for e in steps] + [blur**p]


def sinkhorn_loss(
    x: Tensor,
    y: Tensor,
    x_weights: Tensor | None = None,
    y_weights: Tensor | None = None,
    p: int = 2,
    blur: float = 0.05,
    scaling: float = 0.5,
    diameter: float | None = None,
    debias: bool = True,
    gradient: str = "exact",
    reduction: str = "mean",
) -> Tensor:
    """Debiased Sinkhorn divergence between two weighted point clouds, with epsilon-scaling.

    With the cost ``C(x, y) = |x - y|**p / p`` and the temperature ``eps = blur**p``, the
    entropic optimal-transport cost ``OT_eps(a, b) = <a, f> + <b, g>`` at the dual potentials
    ``f, g`` of the Sinkhorn iterations, and (``debias=True``)::

        S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2

    which is non-negative, 0 only for equal measures, and tends to ``W_p**p / p`` as ``blur``
    goes to 0 and to an energy-like MMD as it grows. The potentials are computed as geomloss
    does: symmetric Sinkhorn updates averaged at each step, ``eps`` annealed from
    ``diameter**p`` to ``blur**p`` by factors ``scaling**p``, then one extrapolation step.

    Gradient: ``gradient='exact'`` differentiates through every iteration, so the gradient (and
    the second derivative) is that of the returned value; ``gradient='envelope'`` is
    geomloss's: only the final extrapolation step is differentiated, with the potentials held
    fixed (the envelope theorem; exact only at convergence). Both return the same value. The
    exact gradient keeps no ``(N, M)`` matrix per iteration: each soft c-transform recomputes its
    transport plan in the backward, so its memory is that of the cost matrices, as geomloss's.

    Equal to geomloss's ``SamplesLoss('sinkhorn', p=p, blur=blur, scaling=scaling,
    diameter=diameter, debias=debias, backend='tensorized')(a, x, b, y)`` (value; and
    its gradient with ``gradient='envelope'``).

    Args:
        x: points ``(N, D)`` or a batch ``(B, N, D)``.
        y: points ``(M, D)`` or ``(B, M, D)``.
        x_weights: positive weights of ``x`` summing to 1, ``(N,)`` or ``(B, N)``. Default
            uniform.
        y_weights: the same for ``y``. Default uniform.
        p: exponent of the cost, 1 or 2. Default 2.
        blur: final temperature scale, ``eps = blur**p``. Default 0.05.
        scaling: ratio of successive blurs in the annealing, in ``(0, 1)``. Default 0.5.
        diameter: upper bound of the distances that starts the annealing. Default: the
            diagonal of the bounding box of both clouds (geomloss).
        debias: the Sinkhorn divergence (True) or the raw ``OT_eps`` (False). Default True.
        gradient: ``'exact'`` | ``'envelope'``. Default ``'exact'``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` over the batch. Default ``'mean'``.

    Returns:
        A scalar (``(B,)`` for a batch with ``reduction='none'``).

    References:
        Feydy et al., "Interpolating between Optimal Transport and MMD using Sinkhorn
        Divergences", AISTATS 2019; Feydy, "Geometric data analysis, beyond convolutions",
        PhD thesis 2020 (section 3.3).

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> F.sinkhorn_loss(x, x + torch.tensor([0.0, 0.5]), blur=0.01)
        tensor(0.1250)
    """
    reduction = _reduction.resolve(reduction)
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    if not blur > 0:
        raise ValueError(f"blur must be positive, got {blur}")
    if not 0 < scaling < 1:
        raise ValueError(f"scaling must be in (0, 1), got {scaling}")
    if gradient not in ("exact", "envelope"):
        raise ValueError(f"gradient must be 'exact' or 'envelope', got {gradient!r}")
    x, y, batched = _clouds(x, y)
    a_log = _log_weights(_cloud_weights(x_weights, x, "x_weights"))
    b_log = _log_weights(_cloud_weights(y_weights, y, "y_weights"))
    if diameter is None:
        dims = x.shape[-1]
        points = np.concatenate([x._data.reshape(-1, dims), y._data.reshape(-1, dims)])
        diameter = float(np.linalg.norm(points.max(0) - points.min(0)))
    schedule = _epsilon_schedule(p, diameter, blur, scaling)

    def cost(first: Tensor, second: Tensor) -> Tensor:
        return 0.5 * _squared_distances(first, second) if p == 2 else _distances(first, second)

    def costs() -> tuple[Any, ...]:  # C(x, y), C(y, x), C(x, x), C(y, y)
        # C(y, x) as its own product (geomloss's), not a transposed view: the soft c-transform
        # reads its rows, which a view would give column by column (three times slower)
        c_xy, c_yx = cost(x, y), cost(y, x)
        return c_xy, c_yx, *((cost(x, x), cost(y, y)) if debias else (None, None))

    if gradient == "exact":
        c_xy, c_yx, c_xx, c_yy = costs()
        potentials = _sinkhorn_potentials(schedule, a_log, b_log, c_xy, c_yx, c_xx, c_yy)
    else:  # the loop without a graph; then geomloss's costs, differentiable in their first point
        with grad_mode.no_grad():
            potentials = _sinkhorn_potentials(schedule, a_log, b_log, *costs())
        x_fixed, y_fixed = x.detach(), y.detach()
        c_xy, c_yx = cost(x, y_fixed), cost(y, x_fixed)
        c_xx, c_yy = (cost(x, x_fixed), cost(y, y_fixed)) if debias else (None, None)
    f_ba, g_ab, f_aa, g_bb = potentials
    eps = schedule[-1]  # the final extrapolation, as geomloss: from the last potentials
    f_ba, g_ab = (_softmin(eps, c_xy, b_log + g_ab / eps), _softmin(eps, c_yx, a_log + f_ba / eps))
    a, b = a_log.exp(), b_log.exp()
    loss = _sum(a * f_ba, -1) + _sum(b * g_ab, -1)
    if debias:
        f_aa = _softmin(eps, c_xx, a_log + f_aa / eps)
        g_bb = _softmin(eps, c_yy, b_log + g_bb / eps)
        loss = loss - _sum(a * f_aa, -1) - _sum(b * g_bb, -1)
    return _reduction.apply(loss if batched else loss[0], reduction)


def _sinkhorn_potentials(
    schedule: list[float],
    a_log: Tensor,
    b_log: Tensor,
    c_xy: Tensor,
    c_yx: Tensor,
    c_xx: Tensor | None,
    c_yy: Tensor | None,
) -> list[Any]:
    """geomloss's ``sinkhorn_loop`` (balanced, tensorized): the potentials ``f_ba, g_ab`` of
    ``OT(a, b)`` and ``f_aa, g_bb`` of ``OT(a, a)``, ``OT(b, b)`` after the annealing."""
    eps = schedule[0]
    f_ba, g_ab = _softmin(eps, c_xy, b_log), _softmin(eps, c_yx, a_log)
    debias = c_xx is not None
    f_aa = _softmin(eps, c_xx, a_log) if debias else None
    g_bb = _softmin(eps, c_yy, b_log) if debias else None
    for eps in schedule:
        ft_ba = _softmin(eps, c_xy, b_log + g_ab / eps)
        gt_ab = _softmin(eps, c_yx, a_log + f_ba / eps)
        f_ba, g_ab = 0.5 * (f_ba + ft_ba), 0.5 * (g_ab + gt_ab)
        if debias:
            ft_aa = _softmin(eps, c_xx, a_log + f_aa / eps)
            gt_bb = _softmin(eps, c_yy, b_log + g_bb / eps)
            f_aa, g_bb = 0.5 * (f_aa + ft_aa), 0.5 * (g_bb + gt_bb)
    return [f_ba, g_ab, f_aa, g_bb]


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
