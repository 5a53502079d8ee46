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

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops.activation import logsigmoid, relu
from lossgrad.ops.cumulative import logcumsumexp
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import mul, sub
from lossgrad.ops.pointwise import where as select  # the functions' where= is the item mask
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import flip


def _valid_items(scores: Any, labels: Any, where_mask: Any, fn: str) -> np.ndarray:
    """Check the operands; return the validity mask as a bool array of the scores' shape."""
    _checks.check_tensor(scores, "scores")
    _checks.check_tensor(labels, "labels")
    if scores.dim() == 0:
        raise ValueError(f"{fn}: scores must have a list axis, got a 0-d tensor")
    if labels.shape != scores.shape:
        raise ValueError(
            f"{fn}: labels must have the scores' shape {tuple(scores.shape)}, "
            f"got {tuple(labels.shape)}"
        )
    if where_mask is None:
        return np.ones(scores.shape, bool)
    _checks.check_tensor(where_mask, "where")
    if where_mask.shape != scores.shape:
        raise ValueError(
            f"{fn}: where must have the scores' shape {tuple(scores.shape)}, "
            f"got {tuple(where_mask.shape)}"
        )
    return where_mask._data.astype(bool)


def _mean_or_total(loss: Tensor, reduction: str, count: int) -> Tensor:
    """rax's safe reduction: ``'mean'`` divides by ``count`` and is 0 when ``count`` is 0."""
    return _reduction.apply(loss, reduction, max(count, 1))


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
        weights: optional ``(..., n)`` per-item weights.
        reduction: ``'none'`` (per list) | ``'mean'`` (over lists with a valid item) | ``'sum'``.

    Returns:
        Equals ``rax.softmax_loss`` (and ``optax.losses.ranking_softmax_loss``); ``'none'`` is
        ``reduce_fn=None``.

    Shape:
        scores, labels, where, weights ``(..., n)``; output ``()`` or ``(...)``.

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
    valid = _valid_items(scores, labels, where, "softmax_ranking_loss")
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
    valid = _valid_items(scores, labels, where, "listmle_loss")
    order = np.lexsort((-labels._data, ~valid), axis=-1)
    sorted_scores = gather(scores, -1, Tensor._make(order))
    sorted_valid = np.take_along_axis(valid, order, axis=-1)
    # log Σ_{j ≥ i} exp(s_(j)) over the valid items: a reversed running log-sum-exp (O(n))
    valid_scores = select(Tensor._make(sorted_valid), sorted_scores, float("-inf"))
    tail_log_total = flip(logcumsumexp(flip(valid_scores, (-1,)), -1), (-1,))
    terms = select(Tensor._make(sorted_valid), sub(sorted_scores, tail_log_total), 0.0)
    per_list = -_sum(terms, -1)
    list_has_item = valid.any(axis=-1)
    return _mean_or_total(per_list, reduction, int(list_has_item.sum()))


def _pairwise(
    scores: Tensor,
    labels: Tensor,
    where: Tensor | None,
    weights: Tensor | None,
    reduction: str,
    fn: str,
    pair_loss: Any,
) -> Tensor:
    """``pair_loss(s_i - s_j)`` for every valid pair with ``y_i > y_j``, as an ``(..., n, n)``
    array (zero elsewhere), weighted by ``weights_i`` and reduced over the valid pairs."""
    reduction = _reduction.resolve(reduction)
    valid = _valid_items(scores, labels, where, fn)
    label_values = labels._data
    ordered = label_values[..., :, None] > label_values[..., None, :]
    pairs = ordered & valid[..., :, None] & valid[..., None, :]
    differences = sub(scores.unsqueeze(-1), scores.unsqueeze(-2))
    losses = pair_loss(differences)
    if weights is not None:
        losses = mul(losses, weights.unsqueeze(-1))
    losses = select(Tensor._make(pairs), losses, 0.0)
    return _mean_or_total(losses, reduction, int(pairs.sum()))


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
        weights: optional ``(..., n)`` weights; pair ``(i, j)`` is weighted by ``weights_i``.
        reduction: ``'none'`` (the ``(..., n, n)`` pair losses, 0 off the valid pairs) |
            ``'mean'`` (over the valid pairs of the batch) | ``'sum'``.

    Returns:
        Equals ``rax.pairwise_logistic_loss`` (its ``'none'`` is our pair matrix flattened).

    Shape:
        scores, labels ``(..., n)``; output ``()`` or ``(..., n, n)``.

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
        weights: optional ``(..., n)`` weights; pair ``(i, j)`` is weighted by ``weights_i``.
        reduction: ``'none'`` (``(..., n, n)``) | ``'mean'`` (over valid pairs) | ``'sum'``.

    Returns:
        Equals ``rax.pairwise_hinge_loss``.

    Shape:
        scores, labels ``(..., n)``; output ``()`` or ``(..., n, n)``.

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
    )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
