"""Sparse probability mappings and their Fenchel–Young losses; the Poly-1 cross-entropy.

``sparsemax``, ``entmax15`` and ``entmax_bisect`` map scores to probability vectors that can put
exactly zero mass on low-scoring classes (Martins & Astudillo 2016; Peters et al. 2019). Each
has a loss, the Fenchel–Young loss of its regulariser (Blondel et al. 2020), which plays the role
cross-entropy plays for softmax::

    loss(z, y) = H_α(p*) + <p*, z> - z_y,        p* = α-entmax(z)
    H_α(p)     = (1 - sum_j p_j^α) / (α (α - 1))     (the Tsallis α-entropy)

``α = 2`` is sparsemax, ``α = 1.5`` entmax-1.5. The gradient is ``p* - onehot(y)``, the same shape
as softmax cross-entropy's; the second derivative is the mapping's Jacobian, so the mappings
are differentiable ops of their own whose backward is written with lossgrad ops (double backward
works, where the custom Functions of the entmax package return wrong second derivatives).

The functions follow the entmax package's definitions (``entmax.sparsemax_loss``,
``entmax15_loss``, ``entmax_bisect_loss`` and the mappings of the same names); sparsemax's loss
also equals optax's ``multiclass_sparsemax_loss``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._fused import fused, needs_no_shift
from lossgrad.ops.activation import log_softmax
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import exp, gt, mul, pow, sub, where
from lossgrad.ops.reduce import sum as _sum

# -- the mappings ---------------------------------------------------------------------------------


def _along_last(scores: np.ndarray, dim: int) -> np.ndarray:
    return np.moveaxis(scores, dim, -1)


def _sparsemax_array(scores: np.ndarray) -> np.ndarray:
    """Sparsemax along the last axis: the Euclidean projection of the scores onto the simplex,
    ``p = max(z - τ, 0)`` with τ chosen so that ``p`` sums to 1 (the sort-based algorithm of
    Martins & Astudillo 2016, Alg. 1)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    descending = -np.sort(-shifted, axis=-1)
    ranks = np.arange(1, scores.shape[-1] + 1, dtype=scores.dtype)
    cumulative = np.cumsum(descending, axis=-1) - 1
    in_support = ranks * descending > cumulative
    support_size = in_support.sum(axis=-1, keepdims=True)
    threshold = np.take_along_axis(cumulative, support_size - 1, axis=-1) / support_size.astype(
        scores.dtype
    )
    return np.maximum(shifted - threshold, 0)


def _entmax15_array(scores: np.ndarray) -> np.ndarray:
    """1.5-entmax along the last axis: ``p = max(z/2 - τ, 0)²`` with the exact sort-based
    threshold τ of Peters et al. 2019 (the entmax package's ``Entmax15Function``)."""
    half = scores / 2
    half = half - half.max(axis=-1, keepdims=True)
    descending = -np.sort(-half, axis=-1)
    ranks = np.arange(1, scores.shape[-1] + 1, dtype=scores.dtype)
    mean = np.cumsum(descending, axis=-1) / ranks
    mean_square = np.cumsum(descending * descending, axis=-1) / ranks
    spread = ranks * (mean_square - mean * mean)
    thresholds = mean - np.sqrt(np.maximum((1 - spread) / ranks, 0))
    support_size = (thresholds <= descending).sum(axis=-1, keepdims=True)
    threshold = np.take_along_axis(thresholds, support_size - 1, axis=-1)
    return np.maximum(half - threshold, 0) ** 2


def _entmax_bisect_array(
    scores: np.ndarray, alpha: float, n_iter: int, ensure_sum_one: bool
) -> np.ndarray:
    """α-entmax along the last axis by bisection on the threshold τ of
    ``p = max((α - 1) z - τ, 0)^(1/(α - 1))`` (the entmax package's ``EntmaxBisectFunction``,
    step for step, so the two agree to rounding), in cache-sized blocks of rows over the thread
    pool: all the iterations of a block run while it is in cache."""
    classes = scores.shape[-1]
    rows = np.ascontiguousarray(scores.reshape(-1, classes))
    out = np.empty_like(rows)

    def block(r0: int, r1: int) -> None:
        _bisect_rows(rows[r0:r1], alpha, n_iter, ensure_sum_one, out[r0:r1])

    if rows.size:
        block_rows = max(1, _parallel.BLOCK // max(classes, 1))
        _parallel.map_blocks(block, rows.shape[0], block_rows, work=rows.size)
    return out.reshape(scores.shape)


def _positive_power(base: np.ndarray, exponent: float, out: np.ndarray) -> np.ndarray:
    """``max(base, 0) ** exponent`` into ``out``, as ``exp(exponent * log(max(base, 0)))``:
    NumPy's ``power`` with a fractional exponent runs element by element, about 20 times slower
    than its vectorized ``exp`` and ``log`` (``log 0 = -inf`` gives 0)."""
    np.maximum(base, _parallel.filled(0, base.shape[-1], base.dtype), out=out)
    if exponent == 1:
        return out
    np.log(out, out=out)
    out *= out.dtype.type(exponent)
    return np.exp(out, out=out)


def _bisect_rows(
    scores: np.ndarray, alpha: float, n_iter: int, ensure_sum_one: bool, probabilities: np.ndarray
) -> None:
    """`_entmax_bisect_array` on a C-contiguous ``(rows, classes)`` block, into
    ``probabilities``.

    The bisection runs on ``(α - 1) z`` less its row maximum (which leaves ``p`` unchanged):
    τ then lies in ``[-1, -(1/C)^(α-1)]`` whatever the scores' size, where on the raw scores
    at ``|z| = 1e30`` the bracket ``max - 1`` rounds back to ``max`` and ``p`` comes out NaN
    (as in the entmax package)."""
    exponent = 1 / (alpha - 1)
    dtype = scores.dtype
    scaled = _parallel.scratch(scores.size, dtype, 0).reshape(scores.shape)
    np.multiply(scores, dtype.type(alpha - 1), out=scaled)
    scaled -= scaled.max(axis=-1, keepdims=True)
    low = np.full((scores.shape[0], 1), -1, dtype)
    gap = dtype.type(1 - (1 / scores.shape[-1]) ** (alpha - 1))
    ones = _parallel.ones(scores.shape[-1], dtype)
    work = _parallel.scratch(scores.size, dtype, 1).reshape(scores.shape)
    probabilities.fill(0)
    np.subtract(scaled, low, out=work)
    mass_at_low = np.matmul(_positive_power(work, exponent, work), ones)[:, None] - 1
    for _ in range(n_iter):
        gap = gap / 2
        middle = low + gap
        _positive_power(np.subtract(scaled, middle, out=work), exponent, probabilities)
        mass = np.matmul(probabilities, ones)[:, None] - 1
        low = np.where(mass * mass_at_low >= 0, middle, low)
    if ensure_sum_one:
        probabilities /= np.matmul(probabilities, ones)[:, None]


def _tsallis_jacobian_product(grad: Tensor, probabilities: Tensor, dim: int, power: Any) -> Tensor:
    """``J·g`` for an α-entmax output ``p`` (Peters et al. 2019, Prop. 2): with
    ``s = p^(2-α)`` on the support (0 elsewhere), ``J g = s ⊙ g - s (Σ s ⊙ g) / Σ s``.

    Written with lossgrad ops of ``p``, so differentiating it again gives the second derivative
    (``s`` is computed without touching ``p = 0``, where ``p^(2-α)`` has an infinite slope).
    """
    in_support = gt(probabilities, 0)
    if power is None:  # sparsemax: s = 1 on the support
        slope = in_support.to(grad.dtype)
    else:
        safe = where(in_support, probabilities, 1.0)
        slope = where(in_support, pow(safe, power), 0.0)
    weighted = mul(slope, grad)
    correction = _sum(weighted, dim, keepdim=True) / _sum(slope, dim, keepdim=True)
    return sub(weighted, mul(slope, correction))


class _Entmax(ArrayFunction):
    """An α-entmax mapping; the forward is the NumPy algorithm for its α, the backward the
    Jacobian product in lossgrad ops."""

    node_name = "EntmaxBackward"

    @staticmethod
    def forward(ctx: Any, scores: np.ndarray, dim: int, kind: str, options: Any) -> np.ndarray:
        along = _along_last(scores, dim)
        if kind == "sparsemax":
            mapped = _sparsemax_array(along)
        elif kind == "entmax15":
            mapped = _entmax15_array(along)
        else:
            alpha, n_iter, ensure_sum_one = options
            mapped = _entmax_bisect_array(along, alpha, n_iter, ensure_sum_one)
        probabilities = np.ascontiguousarray(np.moveaxis(mapped, -1, dim))
        ctx.save_for_backward(probabilities)
        ctx.dim, ctx.power = dim, _SLOPE_POWER[kind](options)
        return probabilities

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        (probabilities,) = ctx.saved_tensors
        return (
            _tsallis_jacobian_product(grad, probabilities, ctx.dim, ctx.power),
            None,
            None,
            None,
        )


_SLOPE_POWER = {
    "sparsemax": lambda options: None,
    "entmax15": lambda options: 0.5,
    "entmax_bisect": lambda options: 2 - options[0],
}


def _check_scores(input: Any, fn: str, dim: int) -> int:
    _checks.check_tensor(input, "input")
    if input.dtype.is_floating_point is False:
        raise RuntimeError(f"{fn}: expected a floating-point input, got {input.dtype}")
    if input.dim() == 0:
        raise IndexError(f"{fn}: input must have at least one dimension, got a 0-d tensor")
    ndim = input.dim()
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
            f"but got {dim})"
        )
    return dim % ndim


def sparsemax(input: Tensor, dim: int = -1) -> Tensor:
    """Sparsemax: the Euclidean projection of the scores onto the probability simplex.

    ``p = max(z - τ(z), 0)`` with τ such that ``Σ p = 1``; classes scoring more than about one
    unit below the top get exactly zero probability.
    Gradient: ``J g = s ⊙ (g - mean over the support of g)``, ``s`` the support indicator.

    Args:
        input: scores of any shape with at least one dimension.
        dim: the axis of the classes. Default -1.

    Returns:
        Probabilities of ``input``'s shape, summing to 1 along ``dim``.

    References:
        Martins & Astudillo, "From Softmax to Sparsemax", ICML 2016 (``entmax.sparsemax``).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.sparsemax(torch.tensor([[2.0, 1.5, -1.0]]))
        tensor([[0.7500, 0.2500, 0.0000]])
    """
    return _Entmax.apply(input, _check_scores(input, "sparsemax", dim), "sparsemax", None)


def entmax15(input: Tensor, dim: int = -1) -> Tensor:
    """1.5-entmax: ``p = max(z/2 - τ, 0)²`` with τ such that ``Σ p = 1`` (exact, sort-based).

    Between softmax (α = 1, dense) and sparsemax (α = 2). Gradient: ``J g = s ⊙ g - s Σ(s ⊙ g)
    / Σ s`` with ``s = sqrt(p)``.

    Args:
        input: scores with at least one dimension.
        dim: the axis of the classes. Default -1.

    Returns:
        Probabilities of ``input``'s shape, summing to 1 along ``dim``.

    References:
        Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019
        (``entmax.entmax15``).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.entmax15(torch.tensor([[2.0, 1.0, -3.0]]))
        tensor([[0.8307, 0.1693, 0.0000]])
    """
    return _Entmax.apply(input, _check_scores(input, "entmax15", dim), "entmax15", None)


def entmax_bisect(
    input: Tensor,
    alpha: float = 1.5,
    dim: int = -1,
    n_iter: int = 50,
    ensure_sum_one: bool = True,
) -> Tensor:
    """α-entmax by bisection: ``p = max((α - 1) z - τ, 0)^(1/(α-1))``, ``Σ p = 1``, for any α > 1.

    Gradient: ``J g = s ⊙ g - s Σ(s ⊙ g) / Σ s`` with ``s = p^(2-α)`` on the support. ``alpha``
    is a number here (the entmax package also accepts a tensor and differentiates through it).

    Args:
        input: scores with at least one dimension.
        alpha: α > 1. Default 1.5. α = 2 is sparsemax.
        dim: the axis of the classes. Default -1.
        n_iter: bisection steps. Default 50.
        ensure_sum_one: rescale the result to sum to exactly 1. Default True.

    Returns:
        Probabilities of ``input``'s shape.

    References:
        Peters, Niculae & Martins 2019; Blondel, Martins & Niculae, "Learning with Fenchel-Young
        Losses", JMLR 2020 (``entmax.entmax_bisect``).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.entmax_bisect(torch.tensor([[2.0, 1.5, -1.0]]), alpha=2.0)
        tensor([[0.7500, 0.2500, 0.0000]])
    """
    alpha = _checks.check_float(alpha, "entmax_bisect", "alpha", 2)
    if not alpha > 1:
        raise ValueError(f"entmax_bisect: alpha must be > 1, got {alpha}")
    n_iter = _check_iterations(n_iter, "entmax_bisect")
    dim = _check_scores(input, "entmax_bisect", dim)
    return _Entmax.apply(input, dim, "entmax_bisect", (alpha, n_iter, bool(ensure_sum_one)))


def _check_iterations(n_iter: Any, fn: str) -> int:
    """The bisection's step count: TypeError unless an integer, ValueError unless positive
    (no step leaves τ unknown: the entmax package fails with an UnboundLocalError)."""
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)):
        raise TypeError(f"{fn}(): argument 'n_iter' must be int, not {type(n_iter).__name__}")
    if n_iter < 1:
        raise ValueError(f"{fn}: n_iter must be at least 1, got {n_iter}")
    return int(n_iter)


# -- Fenchel–Young losses -----------------------------------------------------------------------


def _tsallis_entropy(probabilities: Tensor, alpha: float) -> Tensor:
    """``H_α(p) = (1 - Σ_j p_j^α) / (α (α - 1))`` over the last axis."""
    return (1 - _sum(pow(probabilities, alpha), -1)) / (alpha * (alpha - 1))


def _fenchel_young(
    input: Tensor,
    target: Tensor,
    mapping: Any,
    alpha: float,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    """``H_α(p*) + <p*, z> - z_y`` per row, ignored rows 0, reduced over the rows kept (a
    ``'mean'`` over no kept row, every target ignored or an empty batch, is 0 with a gradient
    of 0: the ranking losses' safe mean, where torch's cross-entropy gives NaN).

    ``p* = mapping(z)`` enters as a constant (computed on the detached scores): by the envelope
    theorem the gradient of the loss is ``p* - onehot(y)`` exactly, and the second derivative
    comes from the mapping's own Jacobian, through :class:`_FenchelYoungGradient` (which maps
    the scores again, recorded, only when its backward is itself differentiated).
    """
    kept = target != ignore_index
    safe_target = where(kept, target, 0).unsqueeze(-1)
    fixed = mapping(input.detach())
    # the loss is unchanged by a shift of a row: less its maximum, <p*, z> - z_y does not cancel
    # to 0 at |z| = 1e30 where it is the size of H_α(p*)
    shifted = Tensor._make(input._data - input._data.max(-1, keepdims=True))
    value = _tsallis_entropy(fixed, alpha) + _sum(mul(fixed, shifted), -1)
    value = value - gather(shifted, -1, safe_target).squeeze(-1)
    loss = _FenchelYoungGradient.apply(input, value, fixed, safe_target, mapping)
    loss = where(kept, loss, 0.0)
    return _reduction.apply(loss, reduction, max(int(kept.sum()), 1))


class _FenchelYoungGradient(ArrayFunction):
    """Passes the loss value through; its gradient w.r.t. the scores is ``p* - onehot(y)``: from
    the kept ``p*`` in the first-order backward, and with ``p* = mapping(scores)`` recorded in
    the differentiable one, so a second backward differentiates the mapping."""

    node_name = "FenchelYoungLossBackward"

    @staticmethod
    def forward(
        ctx: Any,
        scores: np.ndarray,
        value: np.ndarray,
        probabilities: np.ndarray,
        target_index: np.ndarray,
        mapping: Any,
    ) -> np.ndarray:
        ctx.save_for_backward(scores, probabilities, target_index)
        ctx.mapping = mapping
        return value.copy()

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        """The same first derivative in one new array: ``g (p* - onehot(y))`` written in place."""
        _, probabilities, target_index = ctx._saved_arrays()
        gradient = np.multiply(probabilities, grad[..., None])
        rows = np.arange(gradient.shape[0])
        gradient[rows, target_index[:, 0]] -= grad
        return gradient, None, None, None, None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        scores, _, target_index = ctx.saved_tensors
        probabilities = ctx.mapping(scores)
        onehot = np.zeros(probabilities.shape, probabilities._data.dtype)
        np.put_along_axis(onehot, target_index._data, 1, axis=-1)
        gradient = mul(grad.unsqueeze(-1), sub(probabilities, Tensor._make(onehot)))
        return gradient, None, None, None, None


def _check_pair(input: Any, target: Any, fn: str) -> None:
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() != 2:
        raise ValueError(f"{fn}: input must be 2-D (N, C), got shape {tuple(input.shape)}")
    if target.shape != input.shape[:1]:
        raise ValueError(
            f"{fn}: target must have shape ({input.shape[0]},) to match input "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    if target.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: target must hold class indices (int64), got {target.dtype}")


def _check_classes(target: Tensor, n_classes: int, ignore_index: int) -> None:
    values = target._data[target._data != ignore_index]
    bad = values[(values < 0) | (values >= n_classes)]
    if bad.size:
        raise IndexError(f"Target {int(bad[0])} is out of bounds.")


def _entmax_family_loss(
    input: Tensor,
    target: Tensor,
    fn: str,
    alpha: float,
    mapping: Any,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    reduction = _reduction.resolve(reduction, allowed=("none", "mean", "sum"))
    _check_pair(input, target, fn)
    _check_classes(target, input.shape[1], ignore_index)
    return _fenchel_young(input, target, mapping, alpha, ignore_index, reduction)


def sparsemax_loss(
    input: Tensor, target: Tensor, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """The sparsemax loss: the Fenchel–Young loss of the Gini entropy.

    ``l = (1 - ||p*||²) / 2 + <p*, z> - z_y`` with ``p* = sparsemax(z)``; zero once the target
    class leads every other by at least 1. Gradient: ``p* - onehot(y)``; second derivative:
    the sparsemax Jacobian.

    Args:
        input: scores ``(N, C)``.
        target: class indices ``(N,)``.
        ignore_index: rows with this target give 0 and are not counted by ``'mean'``; a
            ``'mean'`` with no row counted (all ignored, or no rows) is 0, not NaN.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N,)`` for ``'none'``. ``'none'`` equals ``entmax.sparsemax_loss`` and
        ``optax.losses.multiclass_sparsemax_loss``; ``'mean'`` equals ``entmax.SparsemaxLoss()``.

    Shape:
        input ``(N, C)``, target ``(N,)``, output ``()`` or ``(N,)``.

    References:
        Martins & Astudillo, ICML 2016; Blondel, Martins & Niculae, JMLR 2020.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> scores = torch.tensor([[2.0, 1.5, -1.0], [0.0, 3.0, 0.5]], requires_grad=True)
        >>> F.sparsemax_loss(scores, torch.tensor([1, 1]), reduction='none')
        tensor([0.5625, 0.0000], grad_fn=<WhereBackward0>)
    """
    return _entmax_family_loss(
        input, target, "sparsemax_loss", 2.0, sparsemax, ignore_index, reduction
    )


def entmax15_loss(
    input: Tensor, target: Tensor, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """The 1.5-entmax loss: ``l = (1 - Σ p*^1.5) / 0.75 + <p*, z> - z_y``, ``p* = entmax15(z)``.

    Gradient ``p* - onehot(y)``; second derivative the entmax-1.5 Jacobian.

    Args:
        input: scores ``(N, C)``.
        target: class indices ``(N,)``.
        ignore_index: rows with this target give 0 and are not counted by ``'mean'``; a
            ``'mean'`` with no row counted (all ignored, or no rows) is 0, not NaN.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N,)`` for ``'none'`` (equal to ``entmax.entmax15_loss``).

    Shape:
        input ``(N, C)``, target ``(N,)``.

    References:
        Peters, Niculae & Martins, ACL 2019.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.entmax15_loss(torch.tensor([[2.0, 1.0, -3.0]]), torch.tensor([0]))
        tensor(0.0617)
    """
    return _entmax_family_loss(
        input, target, "entmax15_loss", 1.5, entmax15, ignore_index, reduction
    )


def entmax_bisect_loss(
    input: Tensor,
    target: Tensor,
    alpha: float = 1.5,
    n_iter: int = 50,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """The α-entmax loss for any α > 1: ``l = H_α(p*) + <p*, z> - z_y``, ``p* = entmax_bisect(z)``.

    ``H_α(p) = (1 - Σ p^α) / (α (α - 1))``. Gradient ``p* - onehot(y)``.

    Args:
        input: scores ``(N, C)``.
        target: class indices ``(N,)``.
        alpha: α > 1. Default 1.5.
        n_iter: bisection steps. Default 50.
        ignore_index: rows with this target give 0 and are not counted by ``'mean'``; a
            ``'mean'`` with no row counted (all ignored, or no rows) is 0, not NaN.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N,)`` for ``'none'`` (equal to ``entmax.entmax_bisect_loss``).

    Shape:
        input ``(N, C)``, target ``(N,)``.

    References:
        Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.entmax_bisect_loss(torch.tensor([[2.0, 1.5, -1.0]]), torch.tensor([1]), alpha=2.0)
        tensor(0.5625)
    """
    alpha = _checks.check_float(alpha, "entmax_bisect_loss", "alpha", 3)
    if not alpha > 1:
        raise ValueError(f"entmax_bisect_loss: alpha must be > 1, got {alpha}")
    n_iter = _check_iterations(n_iter, "entmax_bisect_loss")

    def mapping(scores: Tensor) -> Tensor:
        return entmax_bisect(scores, alpha, -1, n_iter)

    return _entmax_family_loss(
        input, target, "entmax_bisect_loss", alpha, mapping, ignore_index, reduction
    )


# -- Poly-1 ---------------------------------------------------------------------------------------


def poly1_cross_entropy(
    input: Tensor,
    target: Tensor,
    epsilon: float = 2.0,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Poly-1 cross-entropy: cross-entropy plus ``ε (1 - p_t)``.

    ``l = -Σ_c t_c log softmax(z)_c + ε (1 - Σ_c t_c softmax(z)_c)`` with ``t`` the target
    distribution: one-hot for class indices (smoothed to ``(1 - s) onehot + s / C`` with
    ``label_smoothing = s``), or the given probabilities. ``ε`` re-weights the leading term of
    cross-entropy's expansion in ``(1 - p_t)``; ``ε = 0`` is cross-entropy.
    Gradient: ``∂l/∂z = Σ_c t_c (p - e_c) - ε p ⊙ (t - Σ_c t_c p_c)``.

    Args:
        input: logits ``(N, C)``.
        target: class indices ``(N,)`` or probabilities ``(N, C)``.
        epsilon: ε. Default 2.0 (optax's and timm's default, the paper's ImageNet value).
        label_smoothing: ``s`` in [0, 1), for class-index targets. Default 0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N,)``. Equals ``timm.loss.PolyCrossEntropy(epsilon, smoothing)`` and,
        for probability targets, ``optax.losses.poly_loss_cross_entropy`` with ``'none'``.

    Shape:
        input ``(N, C)``, target ``(N,)`` or ``(N, C)``, output ``()`` or ``(N,)``.

    References:
        Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions", ICLR 2022.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> logits = torch.tensor([[2.0, 0.0, -1.0]])
        >>> F.poly1_cross_entropy(logits, torch.tensor([0]), epsilon=1.0)
        tensor(0.3261)
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() != 2:
        raise ValueError(
            f"poly1_cross_entropy: input must be 2-D (N, C), got shape {tuple(input.shape)}"
        )
    n_classes = input.shape[1]
    epsilon = _checks.check_float(epsilon, "poly1_cross_entropy", "epsilon", 3)
    label_smoothing = _checks.check_float(
        label_smoothing, "poly1_cross_entropy", "label_smoothing", 4
    )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    probabilities_given = target.shape == input.shape
    if not probabilities_given:
        if target.shape != input.shape[:1] or target.dtype.is_floating_point:
            raise ValueError(
                f"poly1_cross_entropy: target must be class indices of shape ({input.shape[0]},) "
                f"or probabilities of shape {tuple(input.shape)}, got {tuple(target.shape)} "
                f"({target.dtype})"
            )
        _check_classes(target, n_classes, -1)

    def composite(scores: Tensor) -> Tensor:
        if probabilities_given:
            distribution = target.to(scores.dtype)
        else:
            onehot = np.zeros(scores.shape, scores._data.dtype)
            onehot[np.arange(scores.shape[0]), target._data] = 1
            distribution = (
                Tensor._make(onehot) * (1 - label_smoothing) + label_smoothing / n_classes
            )
        log_probabilities = log_softmax(scores, -1)
        cross_entropy = -_sum(mul(distribution, log_probabilities), -1)
        target_probability = _sum(mul(distribution, exp(log_probabilities)), -1)
        return _reduction.apply(cross_entropy + epsilon * (1 - target_probability), reduction)

    if probabilities_given:
        return composite(input)

    def kernel(scores: np.ndarray, gradient: np.ndarray | None) -> np.ndarray:
        return _poly1_kernel(
            scores, target._data, epsilon, label_smoothing, gradient, reduction == "mean"
        )

    return fused(input, kernel, composite, reduction)


def _poly1_kernel(
    scores: np.ndarray,
    target: np.ndarray,
    epsilon: float,
    smoothing: float,
    gradient: np.ndarray | None,
    mean: bool,
) -> np.ndarray:
    """Poly-1 over ``(N, C)`` scores and class indices, reduced, with its gradient written into
    ``gradient`` (when given): with ``p = softmax(z)``, ``q = (1 - s) onehot(y) + s / C`` and
    ``P = Σ q p = (1 - s) p_y + s / C``, the loss per row is
    ``-(1 - s) log p_y - (s / C) Σ log p + ε (1 - P)`` and its gradient
    ``p (1 + ε P - ε s / C) - s / C - (1 - s)(1 + ε p_y) onehot(y)``."""
    rows, classes = scores.shape
    dtype = scores.dtype
    ones = _parallel.ones(classes, dtype)
    exps = np.empty_like(scores) if gradient is None else gradient
    if needs_no_shift(scores):
        top = np.zeros((rows, 1), dtype)
        np.exp(scores, out=exps)
    else:
        top = scores.max(-1, keepdims=True)
        np.exp(np.subtract(scores, top, out=exps), out=exps)
    log_totals = np.log(np.matmul(exps, ones))  # log Σ exp(z - max)
    index = np.arange(rows)
    log_target = scores[index, target] - top[:, 0] - log_totals  # log p_y
    target_probability = np.exp(log_target)
    share = smoothing / classes
    mixed = (1 - smoothing) * target_probability + share  # P
    losses = -(1 - smoothing) * log_target + epsilon * (1 - mixed)
    if smoothing:
        log_sums = np.matmul(scores, ones) - classes * (top[:, 0] + log_totals)  # Σ log p
        losses -= share * log_sums
    count = rows if mean else 1
    total = np.asarray(_parallel.total(losses.astype(dtype, copy=False)) / dtype.type(count))
    if gradient is not None:
        scale = (1 + epsilon * mixed - epsilon * share) / np.exp(log_totals) / count
        np.multiply(exps, scale.astype(dtype, copy=False)[:, None], out=gradient)
        if smoothing:
            gradient -= dtype.type(share / count)
        gradient[index, target] -= (
            (1 - smoothing) * (1 + epsilon * target_probability) / count
        ).astype(dtype, copy=False)
    return total


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
