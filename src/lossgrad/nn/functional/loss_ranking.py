"""Learning-to-rank losses over lists of scored items (rax's definitions).

Each list holds ``n`` items with model scores ``s`` and relevance labels ``y`` along the last
axis; any leading axes are a batch of lists. ``where`` marks the valid items of each list (lists
of different lengths are padded); invalid items take no part in any term. The reductions follow
rax: ``'mean'`` averages over the lists that have a valid item (listwise losses) or over the valid
pairs of the whole batch (pairwise losses), and gives 0 when there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import dot as _dot
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._fused import fused, unshifted_sums_fit
from lossgrad.ops.activation import logsigmoid, relu
from lossgrad.ops.cumulative import logcumsumexp
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import mul, sub
from lossgrad.ops.pointwise import where as select  # the functions' where= is the item mask
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import flip


def _check_lists(scores: Any, labels: Any, where_mask: Any, fn: str, weights: Any = None) -> None:
    """The operands' types, labels and ``where`` of the scores' shape, and ``weights`` of a
    shape that broadcasts to it (rax's broadcasting: per item ``(..., n)``, per list
    ``(..., 1)``)."""
    _checks.check_tensor(scores, "scores")
    _checks.check_tensor(labels, "labels")
    shape = scores._data.shape
    if not shape:
        raise ValueError(f"{fn}: scores must have a list axis, got a 0-d tensor")
    if labels._data.shape != shape:
        raise ValueError(
            f"{fn}: labels must have the scores' shape {shape}, got {tuple(labels.shape)}"
        )
    if where_mask is not None:
        _checks.check_tensor(where_mask, "where")
        if where_mask._data.shape != shape:
            raise ValueError(
                f"{fn}: where must have the scores' shape {shape}, got {tuple(where_mask.shape)}"
            )
    if weights is not None:
        _checks.check_tensor(weights, "weights")
        weight_shape = weights._data.shape
        if len(weight_shape) > len(shape) or any(
            size not in (1, full) for size, full in zip(weight_shape[::-1], shape[::-1])
        ):
            raise ValueError(
                f"{fn}: weights must broadcast to the scores' shape {shape} (per item "
                f"(..., n), per list (..., 1)), got {weight_shape}"
            )


def _valid_items(scores: Tensor, where_mask: Tensor | None) -> np.ndarray:
    """The validity mask as a bool array of the scores' shape (all True without ``where``)."""
    if where_mask is None:
        return np.ones(scores._data.shape, bool)
    return np.asarray(where_mask._data, bool)  # the caller's array when already bool: read only


def _mean_or_total(loss: Tensor, reduction: str, count: int) -> Tensor:
    """rax's safe reduction: ``'mean'`` divides by ``count`` and is 0 when ``count`` is 0."""
    return _reduction.apply(loss, reduction, max(count, 1))


# -- the fused path: one NumPy kernel writes the reduced value and its gradient --------------------


def _lists(array: np.ndarray, dtype: Any = None) -> np.ndarray:
    """An operand as a C-contiguous ``(lists, n)`` array (of ``dtype`` when given)."""
    return np.ascontiguousarray(array.reshape(-1, array.shape[-1]), dtype)


def _item_weights(weights: Tensor, scores: Tensor) -> np.ndarray:
    """Per-item weights broadcast to the scores' shape (a view)."""
    array, shape = weights._data, scores._data.shape
    return array if array.shape == shape else np.broadcast_to(array, shape)


def _finish(
    total: Any, gradient: np.ndarray | None, reduction: str, count: int, dtype: Any
) -> np.ndarray:
    """The kernel's value for ``'sum'``, or divided by ``count`` (at least 1: rax's safe mean) for
    ``'mean'``, with the gradient (when given) divided in place alike."""
    divisor = dtype.type(max(count, 1) if reduction == "mean" else 1)
    if gradient is not None and divisor != 1:
        gradient /= divisor
    return np.asarray(dtype.type(total) / divisor)


def softmax_ranking_loss(
    scores: Tensor,
    labels: Tensor,
    where: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The softmax (ListNet-style) ranking loss: cross-entropy between the labels and the
    softmax of the scores over each list.

    ``l = -Σ_i y_i log softmax(s)_i`` over the valid items, with the labels used as they are
    (not normalised, as rax's default ``label_fn``) and multiplied by ``weights``.
    Gradient: ``∂l/∂s_i = (Σ_j y_j) softmax(s)_i - y_i``.

    Args:
        scores: ``(..., n)`` item scores.
        labels: ``(..., n)`` relevance labels (non-negative).
        where: optional ``(..., n)`` bool mask of valid items.
        weights: optional per-item weights ``(..., n)``, or per-list ``(..., 1)``: any shape
            that broadcasts to the scores' (rax's); each item's label is multiplied by its
            weight.
        reduction: ``'none'`` (per list) | ``'mean'`` (over lists with a valid item) | ``'sum'``.

    Returns:
        Equals ``rax.softmax_loss`` (and ``optax.losses.ranking_softmax_loss``); ``'none'`` is
        ``reduce_fn=None``.

    Shape:
        scores, labels, where ``(..., n)``; weights ``(..., n)`` or ``(..., 1)``; output ``()``
        or ``(...)``.

    References:
        Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach" (ListNet),
        ICML 2007; Bruch et al., "An Analysis of the Softmax Cross Entropy Loss for
        Learning-to-Rank", SIGIR 2019.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.softmax_ranking_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
        tensor(0.4076)
    """
    reduction = _reduction.resolve(reduction)
    _check_lists(scores, labels, where, "softmax_ranking_loss", weights)

    def composite(scores: Tensor) -> Tensor:
        valid = _valid_items(scores, where)
        list_has_item = valid.any(axis=-1)
        # lists without a valid item are computed on all their items and then dropped (no -inf)
        included = Tensor._make(valid | ~list_has_item[..., None])
        relevance = select(Tensor._make(valid), labels.to(scores.dtype), 0.0)
        if weights is not None:
            relevance = mul(relevance, weights)
        log_total = logsumexp(select(included, scores, float("-inf")), -1, keepdim=True)
        log_probabilities = select(included, sub(scores, log_total), 0.0)
        per_list = -_sum(mul(relevance, log_probabilities), -1)
        per_list = select(Tensor._make(list_has_item), per_list, 0.0)
        return _mean_or_total(per_list, reduction, int(list_has_item.sum()))

    def kernel(lists: np.ndarray, gradient: np.ndarray | None) -> np.ndarray:
        shape = lists.shape  # the operands as (lists, n) views, cast by the products that read them
        return _softmax_kernel(
            lists,
            labels._data.reshape(shape),
            None if where is None else _valid_items(scores, where).reshape(shape),
            None if weights is None else _item_weights(weights, scores).reshape(shape),
            gradient,
            reduction == "mean",
        )

    return fused(scores, kernel, composite, reduction)


def _softmax_kernel(
    scores: np.ndarray,
    labels: np.ndarray,
    valid: np.ndarray | None,
    weights: np.ndarray | None,
    gradient: np.ndarray | None,
    mean: bool,
) -> np.ndarray:
    """``Σ_lists [R log Σ_i exp(z_i) - Σ_i r_i z_i]`` over ``(lists, n)`` scores, with the
    relevances ``r = y w`` of the valid items, ``R = Σ r`` and ``z`` the scores, and its gradient
    ``R softmax(z) - r``; divided by the number of lists with a valid item for the mean (rax's
    safe mean).

    At 64 lists of 32 items a call takes tens of microseconds and the count of NumPy calls is
    the cost: the labels are the relevances when there is no mask or weight, the exponentials
    are written where the gradient goes, and ``Σ r z`` (which enters only the value) is one dot
    product over all the lists. The exponentials are first taken of the scores themselves and
    checked afterwards on the lists' sums (`unshifted_sums_fit`: a row-wise max before the
    exponentials costs more than the whole exp pass); where a sum overflowed or underflowed, or
    a list has no valid item, the pass is redone with each list shifted by its maximum."""
    lists, n = scores.shape
    dtype = scores.dtype
    scratch = _parallel.scratch(3 * scores.size, dtype).reshape(3, lists, n)
    exps = scratch[0] if gradient is None else gradient
    relevance, included = labels, None
    if valid is not None:  # as 0/1 floats: a product with a bool array costs several times more
        included = scratch[1]
        np.copyto(included, valid)
        relevance = np.multiply(labels, included, out=scratch[2])
    if weights is not None:
        relevance = np.multiply(relevance, weights, out=scratch[2])
    ones = _parallel.ones(n, dtype)
    masses = _dot(relevance, ones)
    np.exp(scores, out=exps)
    if included is not None:
        exps *= included
    totals = _dot(exps, ones)
    total = float(np.dot(masses, np.log(totals))) - float(np.vdot(relevance, scores))
    count = lists
    if not unshifted_sums_fit(total, totals):
        total, totals, count = _shifted_softmax(scores, included, relevance, masses, exps)
    scale = 1 / max(count, 1) if mean else 1.0
    if gradient is not None:
        masses /= totals
        gradient *= masses[:, None]
        gradient -= relevance
        if scale != 1:
            gradient *= scale
    return np.asarray(total * scale, dtype)


def _shifted_softmax(
    scores: np.ndarray,
    included: np.ndarray | None,
    relevance: np.ndarray,
    masses: np.ndarray,
    exps: np.ndarray,
) -> tuple[float, np.ndarray, int]:
    """`_softmax_kernel`'s value, the lists' sums of exponentials (written into ``exps``) and
    the count of lists with an included item, with each list's scores shifted by its maximum
    over its included items (``included``: 0/1 floats, None for all). A list without one sums
    no exponential and has no mass: its sum is raised to ``tiny`` so that its terms are 0."""
    shifted = _parallel.scratch(scores.size, scores.dtype, 1).reshape(scores.shape)
    if included is None:
        top = scores.max(-1, keepdims=True)
        np.exp(np.subtract(scores, top, out=shifted), out=exps)
    else:  # -inf added to the excluded scores (a masked max or assignment is much slower)
        masked = np.log(included, out=exps)
        masked += scores
        top = masked.max(-1, keepdims=True)
        top[np.isneginf(top)] = 0  # a list without an included item
        np.exp(np.subtract(masked, top, out=masked), out=exps)
        np.subtract(scores, top, out=shifted)
    totals = np.matmul(exps, _parallel.ones(scores.shape[-1], scores.dtype))
    count = int(np.count_nonzero(totals))  # each included exponential is > 0
    if count < len(totals):
        np.maximum(totals, np.finfo(scores.dtype).tiny, out=totals)
    total = float(np.dot(masses, np.log(totals))) - float(np.vdot(relevance, shifted))
    return total, totals, count


def listmle_loss(
    scores: Tensor, labels: Tensor, where: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """ListMLE: the negative log-likelihood of the label order under the Plackett–Luce model.

    With the items sorted by decreasing label (ties keep their order, invalid items last)::

        l = -Σ_i [s_(i) - log Σ_{j ≥ i} exp(s_(j))]

    Gradient: ``∂l/∂s_(k) = Σ_{i ≤ k} softmax_{j ≥ i}(s)_(k) - 1``.

    Args:
        scores: ``(..., n)`` item scores.
        labels: ``(..., n)`` relevance labels (only their order matters).
        where: optional ``(..., n)`` bool mask of valid items.
        reduction: ``'none'`` | ``'mean'`` (over lists with a valid item) | ``'sum'``.

    Returns:
        Equals ``rax.listmle_loss`` (without random tie-breaking).

    Shape:
        scores, labels, where ``(..., n)``; output ``()`` or ``(...)``.

    References:
        Xia et al., "Listwise Approach to Learning to Rank: Theory and Algorithm", ICML 2008.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.listmle_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[2.0, 1.0, 0.0]]))
        tensor(0.7209)
    """
    reduction = _reduction.resolve(reduction)
    _check_lists(scores, labels, where, "listmle_loss")
    valid = _valid_items(scores, where)
    if where is None:
        order = np.argsort(-labels._data, axis=-1, kind="stable")
    else:
        order = np.lexsort((-labels._data, ~valid), axis=-1)
    sorted_valid = np.take_along_axis(valid, order, axis=-1)
    count = int(valid.any(axis=-1).sum())

    def composite(scores: Tensor) -> Tensor:
        sorted_scores = gather(scores, -1, Tensor._make(order))
        # log Σ_{j ≥ i} exp(s_(j)) over the valid items: a reversed running log-sum-exp (O(n))
        valid_scores = select(Tensor._make(sorted_valid), sorted_scores, float("-inf"))
        tail_log_total = flip(logcumsumexp(flip(valid_scores, (-1,)), -1), (-1,))
        terms = select(Tensor._make(sorted_valid), sub(sorted_scores, tail_log_total), 0.0)
        return _mean_or_total(-_sum(terms, -1), reduction, count)

    def kernel(lists: np.ndarray, gradient: np.ndarray | None) -> np.ndarray:
        list_order = _lists(order)
        ranked = np.take_along_axis(lists, list_order, -1)
        total, ranked_gradient = _listmle_kernel(
            ranked, None if where is None else _lists(sorted_valid), gradient is not None
        )
        if gradient is not None:
            np.put_along_axis(gradient, list_order, ranked_gradient, -1)
        return _finish(total, gradient, reduction, count, lists.dtype)

    return fused(scores, kernel, composite, reduction)


def _listmle_kernel(
    ranked: np.ndarray, ranked_valid: np.ndarray | None, needs_grad: bool
) -> tuple[Any, np.ndarray | None]:
    """ListMLE's total over lists of scores in label order (invalid items last, marked False in
    ``ranked_valid``) and its gradient in that order.

    With ``e = exp(s - max s)`` and the tail sums ``C_i = Σ_{j ≥ i} e_j``: the loss is
    ``-Σ_i (s_i - max s - log C_i)``, the gradient ``e_k Σ_{i ≤ k} 1/C_i - 1``. Where a score lies
    so far below its list's top that ``e`` underflows, float32 runs in float64, and float64
    sums the tails in log space."""
    dtype = ranked.dtype
    if ranked_valid is None:
        top = ranked.max(-1, keepdims=True)
    else:
        top = np.max(ranked, -1, keepdims=True, where=ranked_valid, initial=-np.inf)
        top[~np.isfinite(top)] = 0  # a list without a valid item
    shifted = ranked - top
    lowest = (
        shifted.min() if ranked_valid is None else np.min(shifted, where=ranked_valid, initial=0)
    )
    if lowest < np.log(np.finfo(dtype).tiny):
        if dtype.itemsize < 8:  # float64 holds the exponentials (and the rounding stays small)
            total, gradient = _listmle_kernel(ranked.astype(np.float64), ranked_valid, needs_grad)
            return dtype.type(total), None if gradient is None else gradient.astype(dtype)
        return _listmle_log_space(ranked, ranked_valid, needs_grad)
    exps = np.exp(shifted)
    if ranked_valid is not None:
        exps[~ranked_valid] = 0
    tails = np.cumsum(exps[:, ::-1], -1)[:, ::-1]
    if ranked_valid is not None:
        tails[~ranked_valid] = 1  # no term at invalid items (they sort last)
    log_tails = np.log(tails)
    terms = np.subtract(shifted, log_tails, out=log_tails)
    if ranked_valid is not None:
        terms *= ranked_valid
    total = -np.sum(terms, dtype=dtype)
    if not needs_grad:
        return total, None
    inverse_tails = np.reciprocal(tails, out=tails)
    gradient = np.multiply(exps, np.cumsum(inverse_tails, -1, out=inverse_tails), out=exps)
    gradient -= 1 if ranked_valid is None else ranked_valid
    return total, gradient


def _listmle_log_space(
    ranked: np.ndarray, ranked_valid: np.ndarray | None, needs_grad: bool
) -> tuple[Any, np.ndarray | None]:
    """`_listmle_kernel` with the tails as running log-sum-exps (exact for any spread of scores):
    ``T_i = log Σ_{j ≥ i} exp(s_j)``, gradient ``exp(s_k + log Σ_{i ≤ k} exp(-T_i)) - 1``."""
    valid = np.ones(ranked.shape, bool) if ranked_valid is None else ranked_valid
    valid_scores = np.where(valid, ranked, -np.inf)
    log_tails = np.logaddexp.accumulate(valid_scores[:, ::-1], -1)[:, ::-1]
    total = -np.sum(np.where(valid, ranked - log_tails, 0), dtype=ranked.dtype)
    if not needs_grad:
        return total, None
    running = np.logaddexp.accumulate(np.where(valid, -log_tails, -np.inf), -1)
    return total, np.where(valid, np.exp(ranked + running) - 1, 0).astype(ranked.dtype)


def _pairwise(
    scores: Tensor,
    labels: Tensor,
    where: Tensor | None,
    weights: Tensor | None,
    reduction: str,
    fn: str,
    pair_loss: Any,
    pair_kernel: Any,
    margin: float = 0.0,
) -> Tensor:
    """``pair_loss(s_i - s_j)`` for every valid pair with ``y_i > y_j``, as an ``(..., n, n)``
    array (zero elsewhere), weighted by ``weights_i`` and reduced over the valid pairs.

    Reduced, it runs as `_pairwise_kernel` with ``pair_kernel``; unreduced (and differentiated
    twice), as this composite."""
    reduction = _reduction.resolve(reduction)
    _check_lists(scores, labels, where, fn, weights)
    label_values = labels._data

    def composite(scores: Tensor) -> Tensor:
        valid = _valid_items(scores, where)
        ordered = label_values[..., :, None] > label_values[..., None, :]
        pairs = ordered & valid[..., :, None] & valid[..., None, :]
        differences = sub(scores.unsqueeze(-1), scores.unsqueeze(-2))
        losses = pair_loss(differences)
        if weights is not None:
            losses = mul(losses, weights.unsqueeze(-1))
        losses = select(Tensor._make(pairs), losses, 0.0)
        return _mean_or_total(losses, reduction, int(pairs.sum()))

    def kernel(lists: np.ndarray, gradient: np.ndarray | None) -> np.ndarray:
        # compared in their own dtype (as the composite does), as floats for the matrix products
        row_labels = column_labels = _lists(label_values, np.result_type(label_values, 0.0))
        if where is not None:  # an invalid item is below every row and above every column
            invalid = _lists(~_valid_items(scores, where))
            row_labels = np.where(invalid, -np.inf, row_labels)
            column_labels = np.where(invalid, np.inf, column_labels)
        row_weights = None
        if weights is not None:
            row_weights = _lists(_item_weights(weights, scores), lists.dtype)
        total, count = _pairwise_kernel(
            lists, row_labels, column_labels, row_weights, pair_kernel, margin, gradient
        )
        return _finish(total, gradient, reduction, count, lists.dtype)

    return fused(scores, kernel, composite, reduction)


def _sum_factors(rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)``, ``(lists, n, 2)`` and ``(lists, 2, n)``, whose batched matrix product
    is ``rows_i + columns_j`` per list: ``[rows_i, 1] · [1, columns_j]``, rounded once, exactly
    as the broadcast sum (which NumPy loops over rows of ``n``, about ten times slower at n = 32
    than the product)."""
    lists, n = rows.shape
    left = np.empty((lists, 2, n), rows.dtype)  # filled as rows, multiplied as its transpose
    left[:, 0] = rows
    left[:, 1] = 1
    right = np.empty((lists, 2, n), rows.dtype)
    right[:, 0] = 1
    right[:, 1] = columns
    return left.transpose(0, 2, 1), right


def _pairwise_kernel(
    scores: np.ndarray,
    row_labels: np.ndarray,
    column_labels: np.ndarray,
    row_weights: np.ndarray | None,
    pair_kernel: Any,
    margin: float,
    gradient: np.ndarray | None,
) -> tuple[Any, int]:
    """``Σ_{i,j} w_i [y_i > y_j] l(margin + s_j - s_i)`` over ``(lists, n)`` scores, and its
    gradient, in blocks of about `_parallel.BLOCK` pairs (whole lists, or rows of one list) so
    that the pair arrays stay in cache, split by lists over the thread pool. The pair
    differences of scores and of labels are products of `_sum_factors`.

    ``pair_kernel(differences, ordered, needs_grad)`` gets a block of ``margin + s_j - s_i``
    (which it may overwrite) and of ``[y_i > y_j]`` as 0/1 floats, and returns the row totals
    ``Σ_j [y_i > y_j] l`` and the slopes ``[y_i > y_j] l'`` (or None); the weights ``w_i`` are
    applied per row here. The gradient is ``Σ_i w_i slope_ij`` at ``s_j`` and ``-w_i Σ_j
    slope_ij`` at ``s_i``, written into ``gradient`` (when given). Returns the total and the
    number of pairs."""
    lists, n = scores.shape
    dtype = scores.dtype
    if gradient is not None:
        gradient.fill(0)
    columns = scores + dtype.type(margin) if margin else scores
    score_rows, score_columns = _sum_factors(np.negative(scores), columns)
    label_rows, label_columns = _sum_factors(row_labels, np.negative(column_labels))
    lists_per_block = max(1, _parallel.BLOCK // (n * n))
    rows_per_block = max(1, min(n, _parallel.BLOCK // n))
    ones = _parallel.ones(n, dtype)

    def block(l0: int, l1: int) -> tuple[float, int]:
        total, count = 0.0, 0
        for r0 in range(0, n, rows_per_block):
            r1 = min(n, r0 + rows_per_block)
            shape = (l1 - l0, r1 - r0, n)
            size = shape[0] * shape[1] * n
            label_differences = _parallel.scratch(size, label_rows.dtype, 5).reshape(shape)
            np.matmul(label_rows[l0:l1, r0:r1], label_columns[l0:l1], out=label_differences)
            ordered = _parallel.scratch(size, np.bool_).reshape(shape)
            np.greater(label_differences, 0, out=ordered)
            count += int(np.count_nonzero(ordered))
            mask = _parallel.scratch(size, dtype, 6).reshape(shape)
            np.copyto(mask, ordered)  # 0/1 floats: a product with a bool array costs far more
            differences = _parallel.scratch(size, dtype, 1).reshape(shape)
            np.matmul(score_rows[l0:l1, r0:r1], score_columns[l0:l1], out=differences)
            row_totals, slopes = pair_kernel(differences, mask, gradient is not None)
            weights = None if row_weights is None else row_weights[l0:l1, r0:r1]
            if weights is None:
                total += float(_parallel.total(row_totals.reshape(-1)))
            else:
                total += float(_parallel.total(row_totals.reshape(-1), weights.reshape(-1)))
            if gradient is None:
                continue
            row_slopes = np.matmul(slopes, ones)
            if weights is None:
                gradient[l0:l1, r0:r1] -= row_slopes
                gradient[l0:l1] += np.matmul(_parallel.ones(r1 - r0, dtype), slopes)
            else:
                gradient[l0:l1, r0:r1] -= np.multiply(row_slopes, weights, out=row_slopes)
                gradient[l0:l1] += np.matmul(weights[:, None, :], slopes)[:, 0]
        return total, count

    parts = _parallel.map_blocks(block, lists, lists_per_block, work=lists * n * n)
    return sum(total for total, _ in parts), sum(count for _, count in parts)


def _logistic_pairs(
    differences: np.ndarray, ordered: np.ndarray, needs_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``softplus(d) = log1p(u)`` for ``d = s_j - s_i`` and its slope ``σ(d) = u / (1 + u)``,
    from one exponential ``u = exp(d)`` (0 off the ordered pairs): exact while no ``u``
    overflows. An overflow (``d`` above ``log(max)``) makes the block's total non-finite, and
    the block is done again by `_stable_logistic_pairs`."""
    d = differences.reshape(-1)
    size, dtype = d.size, d.dtype
    u = np.exp(d, out=_parallel.scratch(size, dtype, 2))
    u *= ordered.reshape(-1)
    losses = np.log1p(u, out=_parallel.scratch(size, dtype, 3)).reshape(differences.shape)
    row_totals = np.matmul(losses, _parallel.ones(differences.shape[-1], dtype))
    if not np.isfinite(_parallel.total(row_totals.reshape(-1))):
        return _stable_logistic_pairs(differences, ordered, needs_grad)
    if not needs_grad:
        return row_totals, None
    slopes = np.divide(u, np.add(u, _parallel.ones(size, dtype), out=losses.reshape(-1)), out=u)
    return row_totals, slopes.reshape(differences.shape)


def _stable_logistic_pairs(
    differences: np.ndarray, ordered: np.ndarray, needs_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """`_logistic_pairs` for any ``d``: ``softplus(d) = max(d, 0) + log1p(e)`` and
    ``σ(d) = min(u, 1) / (1 + e)`` with ``e = exp(-|d|) = min(u, 1/u)`` (``u = inf`` gives
    ``e = 0``)."""
    d = differences.reshape(-1)
    size, dtype = d.size, d.dtype
    u = np.exp(d, out=_parallel.scratch(size, dtype, 2))
    e = np.reciprocal(u, out=_parallel.scratch(size, dtype, 3))
    np.minimum(u, e, out=e)
    losses = np.maximum(d, _parallel.filled(0, size, dtype), out=_parallel.scratch(size, dtype, 4))
    losses += np.log1p(e, out=d)
    losses *= ordered.reshape(-1)
    losses = losses.reshape(differences.shape)
    row_totals = np.matmul(losses, _parallel.ones(differences.shape[-1], dtype))
    if not needs_grad:
        return row_totals, None
    ones = _parallel.ones(size, dtype)
    slopes = np.divide(np.minimum(u, ones, out=u), np.add(e, ones, out=e), out=u)
    slopes *= ordered.reshape(-1)
    return row_totals, slopes.reshape(differences.shape)


def _hinge_pairs(
    differences: np.ndarray, ordered: np.ndarray, needs_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``max(0, h)`` for ``h = 1 + s_j - s_i`` (the driver adds the margin) and its slope
    ``[h > 0]``."""
    h = differences.reshape(-1)
    np.maximum(h, _parallel.filled(0, h.size, h.dtype), out=h)
    h *= ordered.reshape(-1)
    row_totals = np.matmul(differences, _parallel.ones(differences.shape[-1], h.dtype))
    if not needs_grad:
        return row_totals, None
    active = _parallel.scratch(h.size, np.bool_, 1)
    np.copyto(h, np.greater(h, 0, out=active))
    return row_totals, differences


def pairwise_logistic_loss(
    scores: Tensor,
    labels: Tensor,
    where: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """RankNet's pairwise logistic loss: ``log(1 + exp(-(s_i - s_j)))`` for each pair with
    ``y_i > y_j``.

    Gradient: ``∂l_ij/∂s_i = -σ(-(s_i - s_j)) = -∂l_ij/∂s_j``.

    Args:
        scores: ``(..., n)`` item scores.
        labels: ``(..., n)`` relevance labels.
        where: optional ``(..., n)`` bool mask of valid items.
        weights: optional per-item weights ``(..., n)``, or per-list ``(..., 1)``: any shape
            that broadcasts to the scores' (rax's); pair ``(i, j)`` is weighted by
            ``weights_i``.
        reduction: ``'none'`` (the ``(..., n, n)`` pair losses, 0 off the valid pairs) |
            ``'mean'`` (over the valid pairs of the batch) | ``'sum'``.

    Returns:
        Equals ``rax.pairwise_logistic_loss`` (its ``'none'`` is our pair matrix flattened).

    Shape:
        scores, labels, where ``(..., n)``; weights ``(..., n)`` or ``(..., 1)``; output ``()``
        or ``(..., n, n)``.

    References:
        Burges et al., "Learning to Rank using Gradient Descent" (RankNet), ICML 2005.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.pairwise_logistic_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(1.3133)
    """
    return _pairwise(
        scores,
        labels,
        where,
        weights,
        reduction,
        "pairwise_logistic_loss",
        lambda differences: -logsigmoid(differences),
        _logistic_pairs,
    )


def pairwise_hinge_loss(
    scores: Tensor,
    labels: Tensor,
    where: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The pairwise hinge loss: ``max(0, 1 - (s_i - s_j))`` for each pair with ``y_i > y_j``.

    Gradient: ``∂l_ij/∂s_i = -[s_i - s_j < 1] = -∂l_ij/∂s_j``.

    Args:
        scores: ``(..., n)`` item scores.
        labels: ``(..., n)`` relevance labels.
        where: optional ``(..., n)`` bool mask of valid items.
        weights: optional per-item weights ``(..., n)``, or per-list ``(..., 1)``: any shape
            that broadcasts to the scores' (rax's); pair ``(i, j)`` is weighted by
            ``weights_i``.
        reduction: ``'none'`` (``(..., n, n)``) | ``'mean'`` (over valid pairs) | ``'sum'``.

    Returns:
        Equals ``rax.pairwise_hinge_loss``.

    Shape:
        scores, labels, where ``(..., n)``; weights ``(..., n)`` or ``(..., 1)``; output ``()``
        or ``(..., n, n)``.

    References:
        Herbrich, Graepel & Obermayer, "Large Margin Rank Boundaries for Ordinal Regression",
        2000; Joachims, "Optimizing Search Engines using Clickthrough Data" (RankSVM), KDD 2002.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.pairwise_hinge_loss(torch.tensor([[1.0, 0.5]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.5000)
    """
    return _pairwise(
        scores,
        labels,
        where,
        weights,
        reduction,
        "pairwise_hinge_loss",
        lambda differences: relu(1 - differences),
        _hinge_pairs,
        margin=1.0,
    )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
