"""Contrastive and metric-learning losses torch does not ship: InfoNCE, CLIP, NT-Xent, SupCon,
contrastive (Hadsell), triplet with mining, multi-similarity, lifted structure, N-pairs, margin
(Wu et al.), circle, Barlow Twins, VICReg.

Each loss takes a batch of embeddings ``(N, D)`` and integer class labels ``(N)`` (two rows with
the same label form a *positive pair*, rows with different labels a *negative pair*; a row is
never paired with itself) and follows one reference implementation exactly, named in its
docstring: pytorch-metric-learning 2.9 (pml) with its default distance and reducer, optax, MONAI
or Keras. Each is written as a composite of lossgrad ops, its differentiable definition (autograd
gives the second derivatives from it). The pair losses (NT-Xent, SupCon, contrastive, batch-hard
triplet, multi-similarity, lifted structure, margin with a number ``beta``, pml's circle) run
their value and first derivative on the pair driver (``_pairwise``): one ``(N, N)`` buffer of
similarities or distances, turned into ``dl/ds`` in place by blocks of rows, without ``(N, N)``
label masks; a test compares both forms with the references at N = 600.

Conventions shared by the family:

* **Normalization.** Cosine similarities and pml's default Euclidean distance use embeddings
  divided by ``max(||x||, 1e-12)``, as torch's ``F.normalize``: a zero row stays zero (its
  similarities are 0) and its gradient is the incoming gradient divided by ``1e-12``.
* **Stability.** Every log-sum-exp over a masked set of pairs subtracts the row's largest kept
  value (a constant for autograd), so temperatures of 0.01 and large scales do not overflow, and
  masked entries never reach an ``exp``. A row with nothing to sum over has log-sum-exp 0 (pml's
  ``lmu.logsumexp`` convention) unless the loss states otherwise.
* **Anchors without pairs** contribute the value the reference gives (usually 0) and no NaN.
* **pml's reducers**: ``MeanReducer`` is the plain mean, ``AvgNonZeroReducer`` the mean of the
  strictly positive entries (0 when there is none), ``DivisorReducer`` a sum over a count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn.functional import _pairwise, _reduction
from lossgrad.nn.functional.loss_classification import cross_entropy
from lossgrad.ops.activation import relu, softplus
from lossgrad.ops.cdist import cdist
from lossgrad.ops.pointwise import clamp_min, exp, log, log1p, minimum, where
from lossgrad.ops.reduce import logsumexp, mean, norm
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import cat, stack

_NORMALIZE_EPS = _pairwise.NORMALIZE_EPS


# ----------------------------------------------------------------------------------- helpers


def _normalize(embeddings: Tensor) -> Tensor:
    """torch's ``F.normalize(x, p=2, dim=1)``: ``x / max(||x||, 1e-12)``."""
    return embeddings / clamp_min(norm(embeddings, 2, 1, keepdim=True), _NORMALIZE_EPS)


def _cosine_similarities(embeddings: Tensor) -> Tensor:
    """pml's ``CosineSimilarity``: the ``(N, N)`` matrix of normalized dot products."""
    unit = _normalize(embeddings)
    return unit @ unit.t()


def _scaled_cosine_similarities(embeddings: Tensor, temperature: float) -> Tensor:
    """``cos(x_i, x_j) / temperature``, the scale folded into one factor (one ``(N, N)``)."""
    unit = _normalize(embeddings)
    return (unit / temperature) @ unit.t()


def _euclidean_distances(embeddings: Tensor) -> Tensor:
    """pml's default ``LpDistance``: ``cdist`` between the normalized embeddings (torch's
    algorithm choice, so equal rows give torch's value and subgradient)."""
    unit = _normalize(embeddings)
    return cdist(unit, unit)


def _constant(array: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._make(np.asarray(array, like._data.dtype))


def _masked_logsumexp(values: Tensor, keep: np.ndarray, dim: int = 1) -> Tensor:
    """``log sum_{k kept} exp(values_k)`` along ``dim``, keepdim; 0 for rows with nothing kept.

    The entries not kept become ``-inf`` (their ``exp`` is 0, and so is every derivative through
    them) and ``logsumexp`` shifts each row by its maximum. A row with nothing kept is summed
    whole (a finite placeholder) and replaced by 0, so no ``-inf - (-inf)`` appears anywhere.
    """
    has_any = np.any(keep, axis=dim, keepdims=True)
    summed = Tensor._make(keep | ~has_any)
    lse = logsumexp(where(summed, values, -math.inf), dim, keepdim=True)
    return where(Tensor._make(has_any), lse, 0.0)


def _pair_logsumexp(values: Tensor, anchors: np.ndarray, size: int) -> Tensor:
    """``out_i = log sum_{pairs (i, j)} e^{values_ij}`` from one entry per pair (``anchors``
    their rows), shifted by each row's maximum; 0 for rows without pairs. Works on the pairs
    only, so no ``(N, N)`` matrix is formed for a sparse set such as the positive pairs."""
    row_max = np.full(size, -np.inf, values._data.dtype)
    np.maximum.at(row_max, anchors, values._data)
    has_pairs = np.isfinite(row_max)
    row_max[~has_pairs] = 0
    total = _positive_pair_sums(exp(values - _constant(row_max[anchors], values)), anchors, size)
    total = where(Tensor._make(has_pairs), total, 1.0)
    return log(total) + _constant(row_max, values)


def _positive_pair_sums(values: Tensor, anchors: np.ndarray, size: int) -> Tensor:
    """``out_i = sum of values over the positive pairs (i, j)``: ``values`` holds one entry per
    pair, ``anchors`` their row indices."""
    from lossgrad.ops.index import scatter_add

    zeros = Tensor._make(np.zeros(size, values._data.dtype))
    return scatter_add(zeros, 0, Tensor._make(anchors), values)


def _mean_of_positive(losses: Tensor) -> Tensor:
    """pml's ``AvgNonZeroReducer``: the mean of the entries ``> 0``, 0 when there is none."""
    count = int(np.count_nonzero(losses._data > 0))
    return _sum(losses) / max(count, 1)


def _zero(embeddings: Tensor) -> Tensor:
    """A zero loss still connected to the embeddings (gradient 0), as pml's ``zero_loss``."""
    return _sum(embeddings) * 0.0


def _check_embeddings(embeddings: Any, name: str = "embeddings", min_rows: int = 2) -> Tensor:
    if not isinstance(embeddings, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(embeddings).__name__}")
    if embeddings.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(embeddings.shape)}")
    if embeddings._data.dtype.kind != "f":
        raise TypeError(f"{name} must be floating point, got {embeddings.dtype}")
    if embeddings.shape[0] < min_rows:
        raise ValueError(
            f"{name} must hold at least {min_rows} rows (a batch of one has no pairs), "
            f"got shape {tuple(embeddings.shape)}"
        )
    return embeddings


def _check_views(
    first: Any, second: Any, names: tuple[str, str], min_rows: int = 2
) -> tuple[Tensor, Tensor]:
    """Two batches of embeddings that must have the same shape (two views, query and key)."""
    first = _check_embeddings(first, names[0], min_rows)
    second = _check_embeddings(second, names[1], min_rows)
    if first.shape != second.shape:
        raise ValueError(
            f"{names[1]} must have the shape of {names[0]}, got {tuple(second.shape)} and "
            f"{tuple(first.shape)}"
        )
    return first, second


def _labels(labels: Any, embeddings: Tensor) -> np.ndarray:
    """The labels as a NumPy array, checked: 1-D, one per row of ``embeddings``."""
    array = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != embeddings.shape[0]:
        raise ValueError(
            "labels must be 1-D with one entry per row of embeddings "
            f"({embeddings.shape[0]}), got shape {tuple(array.shape)}"
        )
    return array


def _pair_masks(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positive, negative)`` boolean ``(N, N)`` masks: same label off the diagonal, and
    different label."""
    same = labels[:, None] == labels[None, :]
    positive = same.copy()
    np.fill_diagonal(positive, False)
    return positive, ~same


def _check_positive(value: float, name: str) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _pair_batch(embeddings: Any, labels: Any) -> tuple[Tensor, _pairwise.PairLabels]:
    """The checked embeddings and the pair structure of their labels (no ``(N, N)`` mask)."""
    embeddings = _check_embeddings(embeddings)
    return embeddings, _pairwise.PairLabels(_labels(labels, embeddings))


def _has_both_kinds(pairs: _pairwise.PairLabels) -> bool:
    """Whether the batch has a positive and a negative pair (else pml's loss is 0)."""
    return pairs.anchors.size > 0 and bool(pairs.has_negative.any())


# --------------------------------------------------------------------------- InfoNCE family


def info_nce_loss(
    query: Tensor,
    positive_key: Tensor,
    negative_keys: Tensor | None = None,
    temperature: float = 0.1,
    reduction: str = "mean",
    negative_mode: str = "unpaired",
) -> Tensor:
    """InfoNCE (van den Oord et al., 2018): pick the positive key among the negatives.

    With unit vectors ``q = q/|q|``, ``k+``, ``k-`` and temperature ``t``:
    ``l_i = -log( exp(q_i.k+_i / t) / (exp(q_i.k+_i / t) + sum_j exp(q_i.k-_j / t)) )``, i.e. a
    cross-entropy over the logits ``[q_i.k+_i, q_i.k-_1, ...] / t`` with target 0. Without
    ``negative_keys`` the other rows' positive keys are the negatives (in-batch negatives):
    logits ``q @ k+^T / t`` with target ``i``.

    Gradient: ``dl_i/dlogit_ij = softmax_ij - [j is the positive]``, through the normalization.

    This is the convention of the ``info-nce-pytorch`` package (RElbers), the one the open torch
    proposal follows.

    Args:
        query: ``(N, D)``.
        positive_key: ``(N, D)``.
        negative_keys: ``(M, D)`` shared by all queries (``negative_mode='unpaired'``) or
            ``(N, M, D)``, one set per query (``'paired'``); None for in-batch negatives.
        temperature: ``t > 0``. Default 0.1.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
        negative_mode: ``'unpaired'`` or ``'paired'``.

    Returns:
        A scalar, or ``(N)`` for ``reduction='none'``.

    Example:
        >>> import lossgrad as torch
        >>> q = torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.info_nce_loss(q, q, temperature=1.0)
        tensor(0.3133)
    """
    reduction = _reduction.resolve(reduction)
    temperature = _check_positive(temperature, "temperature")
    query, positive_key = _check_views(query, positive_key, ("query", "positive_key"), 1)
    if negative_mode not in ("unpaired", "paired"):
        raise ValueError(f"negative_mode must be 'unpaired' or 'paired', got {negative_mode!r}")
    query, positive_key = _normalize(query), _normalize(positive_key)
    if negative_keys is None:
        logits = query @ positive_key.t()
        target = np.arange(query.shape[0])
    else:
        negative_keys = _check_negative_keys(negative_keys, query, negative_mode)
        negative_keys = negative_keys / clamp_min(
            norm(negative_keys, 2, -1, keepdim=True), _NORMALIZE_EPS
        )
        positive_logit = _sum(query * positive_key, 1, keepdim=True)
        if negative_mode == "unpaired":
            negative_logits = query @ negative_keys.t()
        else:
            negative_logits = (query.unsqueeze(1) @ negative_keys.transpose(1, 2)).squeeze(1)
        logits = cat([positive_logit, negative_logits], 1)
        target = np.zeros(query.shape[0], np.int64)
    return cross_entropy(logits / temperature, Tensor._make(target), reduction=reduction)


def _check_negative_keys(negative_keys: Any, query: Tensor, negative_mode: str) -> Tensor:
    if not isinstance(negative_keys, Tensor):
        raise TypeError(f"negative_keys must be a Tensor, got {type(negative_keys).__name__}")
    shape = tuple(negative_keys.shape)
    if negative_mode == "unpaired":
        ok = len(shape) == 2 and shape[1] == query.shape[1]
        expected = f"(M, {query.shape[1]})"
    else:
        ok = len(shape) == 3 and shape[0] == query.shape[0] and shape[2] == query.shape[1]
        expected = f"({query.shape[0]}, M, {query.shape[1]})"
    if not ok:
        raise ValueError(
            f"negative_keys must have shape {expected} for negative_mode={negative_mode!r}, "
            f"got {shape}"
        )
    return negative_keys


def clip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    logit_scale: Tensor | float = 1 / 0.07,
    reduction: str = "mean",
) -> Tensor:
    """CLIP's symmetric contrastive loss (Radford et al., 2021).

    With unit rows ``I``, ``T`` and scale ``s``: logits ``L = s I T^T`` (``(N, N)``), and
    ``l = (CE(L, arange(N)) + CE(L^T, arange(N))) / 2``: each image must pick its own text among
    the batch's texts and each text its own image.

    Gradient: ``dl/dL = (softmax_rows(L) + softmax_cols(L) - 2 E) / (2N)`` for the mean, with
    ``E`` the identity; ``dl/ds = sum(dl/dL * I T^T)``.

    ``logit_scale`` is the multiplier itself (CLIP's ``logit_scale.exp()``, as open_clip's
    ``ClipLoss`` takes it); the module ``CLIPLoss`` holds its logarithm as a Parameter.

    Args:
        image_embeddings: ``(N, D)``.
        text_embeddings: ``(N, D)``.
        logit_scale: a positive number or 0-d Tensor (may require grad). Default ``1/0.07``.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'`` (``(N)``: the two directions' losses of
            each pair, averaged).

    Example:
        >>> import lossgrad as torch
        >>> e = torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.clip_loss(e, e, logit_scale=1.0)
        tensor(0.3133)
    """
    reduction = _reduction.resolve(reduction)
    image_embeddings, text_embeddings = _check_views(
        image_embeddings, text_embeddings, ("image_embeddings", "text_embeddings"), 1
    )
    if not isinstance(logit_scale, Tensor):
        _check_positive(logit_scale, "logit_scale")
    logits = logit_scale * (_normalize(image_embeddings) @ _normalize(text_embeddings).t())
    target = Tensor._make(np.arange(image_embeddings.shape[0]))
    image_to_text = cross_entropy(logits, target, reduction=reduction)
    text_to_image = cross_entropy(logits.t(), target, reduction=reduction)
    return (image_to_text + text_to_image) / 2


def nt_xent_loss(embeddings: Tensor, labels: Tensor, temperature: float = 0.07) -> Tensor:
    """NT-Xent, SimCLR's normalized temperature-scaled cross-entropy (Chen et al., 2020).

    With cosine similarities ``s`` and temperature ``t``, every positive pair ``(i, j)`` is a
    classification of ``j`` against the negatives of ``i``:
    ``l_ij = -log( e^{s_ij/t} / (e^{s_ij/t} + sum_{k: y_k != y_i} e^{s_ik/t}) )
    = softplus(LSE_i - s_ij/t)`` with ``LSE_i = log sum_{k neg} e^{s_ik/t}``, and the loss is the
    mean over all (ordered) positive pairs. Other positives of ``i`` are not in the denominator.

    Gradient: ``dl_ij/ds_ij = -sigma_ij / t`` and ``dl_ij/ds_ik = sigma_ij p_ik / t`` with
    ``sigma_ij = sigmoid(LSE_i - s_ij/t)`` and ``p_ik`` the softmax of ``s_ik/t`` over the
    negatives.

    Reproduces pml ``NTXentLoss(temperature)(embeddings, labels)``, optax
    ``ntxent(embeddings, labels, temperature)``, and MONAI ``ContrastiveLoss(temperature)(a, b)``
    with ``embeddings = cat([a, b])`` and ``labels = [0..B-1, 0..B-1]``.

    Args:
        embeddings: ``(N, D)``, ``N >= 2``.
        labels: ``(N)`` integer labels.
        temperature: ``t > 0``. Default 0.07.

    Returns:
        A scalar. An anchor without negatives contributes 0 for each of its positive pairs; a
        batch without positive or without negative pairs gives 0 (as pml).

    Note:
        pml computes ``-log(ratio + tiny)``, which caps a pair's loss at about 87.3 in float32;
        lossgrad evaluates the softplus form, exact beyond that.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [1., 0.1], [0., 1.], [0.1, 1.]])
        >>> torch.nn.functional.nt_xent_loss(x, torch.tensor([0, 0, 1, 1]), temperature=0.5)
        tensor(0.2899)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    temperature = _check_positive(temperature, "temperature")
    if not _has_both_kinds(pairs):
        return _zero(embeddings)
    return _pairwise.apply(
        "NtXentLossBackward", embeddings, pairs, _nt_xent_kernel, _nt_xent, (temperature,)
    )


def _nt_xent(embeddings: Tensor, labels: np.ndarray, temperature: float) -> Tensor:
    positive, negative = _pair_masks(labels)
    logits = _scaled_cosine_similarities(embeddings, temperature)
    negative_lse = _masked_logsumexp(logits, negative).squeeze(1)
    anchors, positives = np.nonzero(positive)
    pair_losses = _log1p_exp(negative_lse[anchors] - logits[anchors, positives])
    has_negative = Tensor._make(negative.any(1)[anchors])
    return _sum(where(has_negative, pair_losses, 0.0)) / anchors.size


def _nt_xent_kernel(unit: np.ndarray, pairs: _pairwise.PairLabels, temperature: float):
    """NT-Xent on one ``(N, N)`` buffer: similarities, then the softmax over each row's
    negatives, then ``dl/ds`` (``p_ik sum_j sigma_ij`` on negatives, ``-sigma_ij`` on positives,
    over ``P t``)."""
    size = unit.shape[0]
    gradient = _pairwise.cosine_similarities(unit)
    pair_losses = np.empty(pairs.anchors.size, unit.dtype)
    has_negative = pairs.has_negative

    def rows(start: int, stop: int) -> None:
        block = gradient[start:stop]
        in_rows = pairs.in_rows(start, stop)
        anchors, positives = pairs.anchors[in_rows] - start, pairs.positives[in_rows]
        positive_logits = block[anchors, positives] / temperature
        row_lse, softmax_scale = _negative_softmax(block, pairs, start, stop, temperature)
        margins = row_lse[anchors] - positive_logits
        usable = has_negative[start:stop][anchors]
        pair_losses[in_rows] = np.where(usable, _pairwise.log1p_exp(margins), 0)
        weights = np.where(usable, _pairwise.sigmoid(margins), 0)
        softmax_scale *= _pairwise.group_sum(weights, anchors, stop - start)
        block *= softmax_scale[:, None]
        block[anchors, positives] = -weights

    _pairwise.map_row_blocks(rows, size)
    count = pairs.anchors.size
    return pair_losses.sum() / count, _pairwise.similarity_gradient(
        gradient, 1 / (count * temperature)
    )


def _negative_softmax(
    block: np.ndarray, pairs: _pairwise.PairLabels, start: int, stop: int, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of similarities become ``e^{(s - max)/t}`` over the negatives (0 elsewhere); returns
    each row's ``log sum_neg e^{s/t}`` and ``1 / sum`` (both 0 for a row without negatives)."""
    np.copyto(block, -np.inf, where=_pairwise.same_label(pairs, start, stop))
    row_max = block.max(1)
    row_max[~pairs.has_negative[start:stop]] = 0
    totals = _exp_shifted(block, row_max, temperature)
    has_negative = totals > 0
    inverse = np.divide(1, totals, out=np.zeros_like(totals), where=has_negative)
    return row_max / temperature + np.log(
        totals, out=np.zeros_like(totals), where=has_negative
    ), inverse


def _exp_shifted(block: np.ndarray, row_max: np.ndarray, temperature: float) -> np.ndarray:
    """``block = e^{(block - row_max)/t}`` in place; returns the row sums."""
    block -= row_max[:, None]
    if temperature != 1:
        block *= 1 / temperature
    np.exp(block, out=block)
    return block @ _parallel.ones(block.shape[1], block.dtype)


def supcon_loss(embeddings: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    """Supervised contrastive loss (Khosla et al., 2020), the "L_out" form.

    With cosine similarities ``s`` and temperature ``t``, each anchor averages the log-probability
    of its positives under a softmax over all other rows:
    ``l_i = -(1/|P(i)|) sum_{p in P(i)} (s_ip/t - log sum_{k != i} e^{s_ik/t})``.

    Gradient: ``dl_i/ds_ik = (q_ik - [k in P(i)]/|P(i)|) / t`` with ``q_ik`` the softmax of
    ``s_ik/t`` over ``k != i``.

    Reproduces pml ``SupConLoss(temperature)`` with its ``AvgNonZeroReducer``: the mean over the
    anchors with a non-zero loss (anchors without positives have loss 0 and are left out).

    Args:
        embeddings: ``(N, D)``, ``N >= 2``.
        labels: ``(N)``.
        temperature: ``t > 0``. Default 0.1.

    Returns:
        A scalar; 0 when the batch has no positive or no negative pair (as pml).

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [1., 0.1], [0., 1.], [0.1, 1.]])
        >>> torch.nn.functional.supcon_loss(x, torch.tensor([0, 0, 1, 1]), temperature=0.5)
        tensor(0.2899)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    temperature = _check_positive(temperature, "temperature")
    if not _has_both_kinds(pairs):
        return _zero(embeddings)
    return _pairwise.apply(
        "SupConLossBackward", embeddings, pairs, _supcon_kernel, _supcon, (temperature,)
    )


def _supcon_kernel(unit: np.ndarray, pairs: _pairwise.PairLabels, temperature: float):
    """SupCon on one ``(N, N)`` buffer: similarities, then the softmax over ``k != i``, then
    ``dl/ds`` (``q_ik - [k in P(i)] / |P(i)|``, over the count of non-zero anchors times t)."""
    size = unit.shape[0]
    gradient = _pairwise.cosine_similarities(unit)
    losses = np.empty(size, unit.dtype)
    counts = pairs.positives_per_row

    def rows(start: int, stop: int) -> None:
        block = gradient[start:stop]
        anchors, positives = pairs.in_block(start, stop)
        positive_sums = _pairwise.group_sum(block[anchors, positives], anchors, stop - start)
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        row_max = block.max(1)
        totals = _exp_shifted(block, row_max, temperature)
        row_counts = counts[start:stop]
        lse = row_max / temperature + np.log(totals)
        row_losses = (row_counts * lse - positive_sums / temperature) / np.maximum(row_counts, 1)
        losses[start:stop] = np.where(row_counts > 0, row_losses, 0)
        block *= ((row_counts > 0) / totals).astype(block.dtype)[:, None]
        block[anchors, positives] -= (1 / row_counts[anchors]).astype(block.dtype)

    _pairwise.map_row_blocks(rows, size)
    nonzero = max(int(np.count_nonzero(losses > 0)), 1)
    return losses.sum() / nonzero, _pairwise.similarity_gradient(
        gradient, 1 / (nonzero * temperature)
    )


def _supcon(embeddings: Tensor, labels: np.ndarray, temperature: float) -> Tensor:
    positive, _ = _pair_masks(labels)
    logits = _scaled_cosine_similarities(embeddings, temperature)
    off_diagonal = ~np.eye(positive.shape[0], dtype=bool)
    log_denominator = _masked_logsumexp(logits, off_diagonal).squeeze(1)
    anchors, positives = np.nonzero(positive)
    positive_logit_sums = _positive_pair_sums(logits[anchors, positives], anchors, len(positive))
    positives_per_anchor = positive.sum(1)
    counts = _constant(positives_per_anchor, embeddings)
    losses = (counts * log_denominator - positive_logit_sums) / clamp_min(counts, 1.0)
    return _mean_of_positive(where(Tensor._make(positives_per_anchor > 0), losses, 0.0))


# ------------------------------------------------------------------- pair and triplet losses


def contrastive_loss(
    embeddings: Tensor, labels: Tensor, pos_margin: float = 0.0, neg_margin: float = 1.0
) -> Tensor:
    """The contrastive (pair) loss of Hadsell, Chopra and LeCun (2006), with pml's two margins.

    With ``d`` the Euclidean distance between normalized embeddings: positive pairs cost
    ``relu(d_ij - pos_margin)``, negative pairs ``relu(neg_margin - d_ij)``; each set is averaged
    over its non-zero terms and the two averages are added.

    Gradient: ``+dd/dx`` on active positive pairs and ``-dd/dx`` on active negative pairs, each
    divided by its set's count of non-zero terms; ``dd/dx`` as ``cdist``.

    Reproduces pml ``ContrastiveLoss(pos_margin, neg_margin)`` (``LpDistance``,
    ``AvgNonZeroReducer``).

    Args:
        embeddings: ``(N, D)``, ``N >= 2``.
        labels: ``(N)``.
        pos_margin: distance below which positive pairs cost nothing. Default 0.
        neg_margin: distance beyond which negative pairs cost nothing. Default 1.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.contrastive_loss(x, torch.tensor([0, 0, 1]))
        tensor(1.2620)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    return _pairwise.apply(
        "ContrastiveLossBackward",
        embeddings,
        pairs,
        _contrastive_kernel,
        _contrastive,
        (float(pos_margin), float(neg_margin)),
    )


def _contrastive_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, pos_margin: float, neg_margin: float
):
    """The contrastive loss on one ``(N, N)`` buffer: the distances, then ``(dl/dd) / d`` in
    place (``-1 / d`` on the active negative pairs, ``1 / d`` times the ratio of the two counts
    on the active positive pairs, all over the count of active negative pairs)."""
    size = unit.shape[0]
    distances = _pairwise.EuclideanDistances(unit)
    ratio = distances.rows(0, size, np.empty((size, size), unit.dtype))
    anchors, positives = pairs.anchors, pairs.positives
    positive_distances = ratio[anchors, positives]
    negative_sums = np.empty(size, unit.dtype)
    negative_counts = np.empty(size, np.int64)

    def rows(start: int, stop: int) -> None:
        block = ratio[start:stop]
        same = _pairwise.same_label(pairs, start, stop)
        active = np.less(block, neg_margin, out=_pairwise.scratch_rows(*block.shape, bool, 2))
        np.greater(active, same, out=active)  # below the margin and a negative pair
        negative_counts[start:stop] = np.count_nonzero(active, 1)
        terms = np.subtract(
            neg_margin, block, out=_pairwise.scratch_rows(*block.shape, block.dtype, 3)
        )
        terms *= active
        negative_sums[start:stop] = terms @ _parallel.ones(size, block.dtype)
        active &= np.greater(block, 0, out=same)  # cdist's subgradient 0 at d == 0
        np.divide(-1, block, out=block, where=active)
        block *= active

    _pairwise.map_row_blocks(rows, size)
    positive_terms = positive_distances - pos_margin
    positive_active = positive_terms > 0
    positive_count = max(int(np.count_nonzero(positive_active)), 1)
    negative_count = max(int(negative_counts.sum()), 1)
    value = positive_terms[positive_active].sum() / positive_count
    value += negative_sums.sum() / negative_count
    # the positive pairs' (dl/dd) / d, relative to the negatives' scale 1 / negative_count
    positive_ratio = np.divide(
        negative_count / positive_count,
        positive_distances,
        out=np.zeros_like(positive_distances),
        where=positive_active & (positive_distances > 0),
    )
    ratio[anchors, positives] = positive_ratio
    return value, _pairwise.distance_gradient(ratio, 1 / negative_count)


def _contrastive(
    embeddings: Tensor, labels: np.ndarray, pos_margin: float, neg_margin: float
) -> Tensor:
    positive, negative = _pair_masks(labels)
    distances = _euclidean_distances(embeddings)
    positive_losses = where(Tensor._make(positive), relu(distances - pos_margin), 0.0)
    negative_losses = where(Tensor._make(negative), relu(neg_margin - distances), 0.0)
    return _mean_of_positive(positive_losses) + _mean_of_positive(negative_losses)


_MINING = ("batch_all", "batch_hard", "semihard")


def _triplets(
    distances: np.ndarray, positive: np.ndarray, negative: np.ndarray, mining: str, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor, positive and negative indices chosen by ``mining`` (no gradient flows here)."""
    if mining == "batch_hard":
        usable = positive.any(1) & negative.any(1)
        hardest_positive = np.argmax(np.where(positive, distances, -np.inf), 1)
        hardest_negative = np.argmin(np.where(negative, distances, np.inf), 1)
        anchors = np.flatnonzero(usable)
        return anchors, hardest_positive[anchors], hardest_negative[anchors]
    anchors, positives, negatives = np.nonzero(positive[:, :, None] & negative[:, None, :])
    if mining == "semihard":
        gap = distances[anchors, negatives] - distances[anchors, positives]
        chosen = (gap > 0) & (gap <= margin)
        anchors, positives, negatives = anchors[chosen], positives[chosen], negatives[chosen]
    return anchors, positives, negatives


def triplet_mining_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.05,
    mining: str = "batch_all",
    swap: bool = False,
    smooth_loss: bool = False,
) -> Tensor:
    """Triplet loss over the triplets of a batch chosen by a mining strategy.

    For a triplet (anchor ``a``, positive ``p``, negative ``n``) and Euclidean distances ``d``
    between normalized embeddings: ``l = relu(d_ap - d_an + margin)`` (``softplus`` with
    ``smooth_loss``; with ``swap``, ``d_an`` becomes ``min(d_an, d_pn)``), averaged over the
    triplets with a non-zero loss.

    Mining (which triplets enter):

    * ``'batch_all'``: every valid triplet (pml ``TripletMarginLoss`` without a miner);
    * ``'batch_hard'``: for each anchor with a positive and a negative, its farthest positive and
      closest negative (Hermans et al., 2017; pml ``BatchHardMiner``);
    * ``'semihard'``: the triplets with ``0 < d_an - d_ap <= margin`` (Schroff et al., 2015; pml
      ``TripletMarginMiner(margin, type_of_triplets='semihard')``).

    Gradient: ``dd_ap/dx - dd_an/dx`` on the active triplets divided by their count; the
    selection itself is not differentiated.

    Reproduces pml ``TripletMarginLoss(margin, swap, smooth_loss)(embeddings, labels,
    miner(embeddings, labels))`` with the miners above (mining margin = ``margin``).

    Args:
        embeddings: ``(N, D)``, ``N >= 2``.
        labels: ``(N)``.
        margin: Default 0.05 (pml's).
        mining: ``'batch_all'`` | ``'batch_hard'`` | ``'semihard'``.
        swap: the distance swap of Balntas et al. (2016).
        smooth_loss: ``softplus`` instead of ``relu``.

    Note:
        ``'batch_all'`` and ``'semihard'`` enumerate the ``O(N^3)`` candidate triplets, as pml
        does; use ``'batch_hard'`` for large batches.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.triplet_mining_loss(x, torch.tensor([0, 0, 1]), margin=0.5)
        tensor(0.7620)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    if mining not in _MINING:
        raise ValueError(f"mining must be one of {_MINING}, got {mining!r}")
    if mining != "batch_hard":
        return _triplet_mining(embeddings, pairs.labels, margin, mining, swap, smooth_loss)
    if not (pairs.has_negative & (pairs.class_size > 1)).any():
        return _zero(embeddings)
    return _pairwise.apply(
        "TripletMiningLossBackward",
        embeddings,
        pairs,
        _batch_hard_kernel,
        _triplet_mining,
        (float(margin), mining, swap, smooth_loss),
    )


def _triplet_mining(
    embeddings: Tensor,
    labels: np.ndarray,
    margin: float,
    mining: str,
    swap: bool,
    smooth_loss: bool,
) -> Tensor:
    positive, negative = _pair_masks(labels)
    distances = _euclidean_distances(embeddings)
    anchors, positives, negatives = _triplets(
        distances._data, positive, negative, mining, float(margin)
    )
    if anchors.size == 0:
        return _zero(embeddings)
    positive_distances = distances[anchors, positives]
    negative_distances = distances[anchors, negatives]
    if swap:
        negative_distances = minimum(negative_distances, distances[positives, negatives])
    violation = positive_distances - negative_distances + margin
    losses = softplus(violation) if smooth_loss else relu(violation)
    return _mean_of_positive(losses)


def _batch_hard_kernel(
    unit: np.ndarray,
    pairs: _pairwise.PairLabels,
    margin: float,
    mining: str,
    swap: bool,
    smooth_loss: bool,
):
    """Batch-hard triplets from blocks of rows of the distances (no ``(N, N)`` matrix is
    kept): each anchor's farthest positive and closest negative; the loss and its gradient
    then live on those ``O(N)`` pairs."""
    size = unit.shape[0]
    distances = _pairwise.EuclideanDistances(unit)
    hardest_positive = np.zeros(size, np.intp)
    hardest_negative = np.zeros(size, np.intp)
    positive_distances = np.zeros(size, unit.dtype)
    negative_distances = np.zeros(size, unit.dtype)

    def rows(start: int, stop: int) -> None:
        block = distances.rows(
            start, stop, _pairwise.scratch_rows(stop - start, size, unit.dtype, 2)
        )
        anchors, positives = pairs.in_block(start, stop)
        values = block[anchors, positives]
        farthest = _pairwise.group_max(values, anchors, stop - start, 0)
        hits = np.flatnonzero(values == farthest[anchors])
        hit_anchors = anchors[hits]
        first = hits[np.r_[True, hit_anchors[1:] != hit_anchors[:-1]]]  # np.argmax's tie rule
        hardest_positive[start + anchors[first]] = positives[first]
        positive_distances[start:stop] = farthest
        np.copyto(block, np.inf, where=_pairwise.same_label(pairs, start, stop))
        closest = block.argmin(1)
        hardest_negative[start:stop] = closest
        negative_distances[start:stop] = block[np.arange(stop - start), closest]

    _pairwise.map_row_blocks(rows, size)
    anchors = np.flatnonzero(pairs.has_negative & (pairs.class_size > 1))
    positives, negatives = hardest_positive[anchors], hardest_negative[anchors]
    to_positive, to_negative = positive_distances[anchors], negative_distances[anchors]
    closest, negative_share = to_negative, np.ones_like(to_negative)
    if swap:
        between = distances.pairs(positives, negatives)
        closest = np.minimum(to_negative, between)
        negative_share = np.where(
            to_negative < between, 1, np.where(to_negative == between, 0.5, 0)
        )
    violation = to_positive - closest + margin
    if smooth_loss:
        losses, slope = _torch_softplus(violation)
    else:
        losses = np.maximum(violation, 0)
        slope = (violation > 0).astype(unit.dtype)
    count = max(int(np.count_nonzero(losses > 0)), 1)
    slope = slope.astype(unit.dtype) / count
    first = np.concatenate([anchors, anchors, positives])
    second = np.concatenate([positives, negatives, negatives])
    slopes = np.concatenate([slope, -slope * negative_share, -slope * (1 - negative_share)])
    lengths = np.concatenate([to_positive, to_negative, between if swap else to_negative])

    def unit_gradient(unit: np.ndarray) -> np.ndarray:
        return _pairwise.pair_distance_gradient(first, second, slopes, lengths, unit)

    return losses.sum() / count, unit_gradient


def multi_similarity_loss(
    embeddings: Tensor, labels: Tensor, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5
) -> Tensor:
    """Multi-similarity loss (Wang et al., 2019), on all pairs of the batch.

    With cosine similarities ``s`` and, per anchor ``i``, its positives ``P`` and negatives
    ``N``: ``l_i = (1/alpha) log(1 + sum_P e^{-alpha (s_ip - base)})
    + (1/beta) log(1 + sum_N e^{beta (s_in - base)})``, averaged over the anchors.

    Gradient: ``dl_i/ds_ip = -e^{-alpha(s_ip - base)} / (1 + sum_P ...)`` and
    ``dl_i/ds_in = e^{beta(s_in - base)} / (1 + sum_N ...)``.

    Reproduces pml ``MultiSimilarityLoss(alpha, beta, base)`` (no miner, ``MeanReducer``).

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.multi_similarity_loss(x, torch.tensor([0, 0, 1]))
        tensor(0.3994)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    return _pairwise.apply(
        "MultiSimilarityLossBackward",
        embeddings,
        pairs,
        _multi_similarity_kernel,
        _multi_similarity,
        (float(alpha), float(beta), float(base)),
    )


def _multi_similarity_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, alpha: float, beta: float, base: float
):
    """Multi-similarity on one ``(N, N)`` buffer: similarities, then ``dl/ds`` in place (the
    weights ``e^{beta(s - base)} / (1 + sum)`` on negatives; the positives gathered)."""
    size = unit.shape[0]
    gradient = _pairwise.cosine_similarities(unit)
    losses = np.empty(size, unit.dtype)

    def rows(start: int, stop: int) -> None:
        block = gradient[start:stop]
        count = stop - start
        anchors, positives = pairs.in_block(start, stop)
        positive_values = -alpha * (block[anchors, positives] - base)
        np.copyto(block, -np.inf, where=_pairwise.same_label(pairs, start, stop))
        block -= base
        block *= beta
        row_max = np.maximum(block.max(1), 0)  # the "1" of log(1 + sum) is e^0
        block -= row_max[:, None]
        np.exp(block, out=block)
        denominators = np.exp(-row_max) + block @ _parallel.ones(size, block.dtype)
        block *= (1 / denominators)[:, None]
        positive_max = np.maximum(_pairwise.group_max(positive_values, anchors, count, 0), 0)
        shifted = np.exp(positive_values - positive_max[anchors])
        positive_denominators = np.exp(-positive_max) + _pairwise.group_sum(shifted, anchors, count)
        block[anchors, positives] = -shifted / positive_denominators[anchors]
        losses[start:stop] = (row_max + np.log(denominators)) / beta + (
            positive_max + np.log(positive_denominators)
        ) / alpha

    _pairwise.map_row_blocks(rows, size)
    return losses.mean(), _pairwise.similarity_gradient(gradient, 1 / size)


def _multi_similarity(
    embeddings: Tensor, labels: np.ndarray, alpha: float, beta: float, base: float
) -> Tensor:
    positive, negative = _pair_masks(labels)
    similarities = _cosine_similarities(embeddings)
    anchors, positives = np.nonzero(positive)  # the few positive pairs, gathered
    positive_values = -alpha * (similarities[anchors, positives] - base)
    positive_lse = _pair_logsumexp(positive_values, anchors, len(positive))
    positive_part = where(Tensor._make(positive.any(1)), _log1p_exp(positive_lse), 0.0) / alpha
    negative_part = _log1p_sum_exp(beta * (similarities - base), negative) / beta
    return mean(positive_part + negative_part)


def _log1p_sum_exp(values: Tensor, keep: np.ndarray, dim: int = 1) -> Tensor:
    """``log(1 + sum_kept e^values)`` along ``dim`` (pml's ``logsumexp(add_one=True)``), 0 for
    rows with nothing kept: ``softplus`` of the masked log-sum-exp."""
    lse = _masked_logsumexp(values, keep, dim).squeeze(dim)
    return where(Tensor._make(keep.any(dim)), _log1p_exp(lse), 0.0)


def _log1p_exp(values: Tensor) -> Tensor:
    """``log(1 + e^x)`` exactly for every ``x`` (``softplus`` without torch's linear threshold):
    ``max(x, 0) + log1p(e^{-|x|})``."""
    return relu(values) + log1p(exp(-values.abs()))


def lifted_structure_loss(
    embeddings: Tensor,
    labels: Tensor,
    neg_margin: float = 1.0,
    pos_margin: float = 0.0,
    generalized: bool = False,
) -> Tensor:
    """Lifted structured loss (Oh Song et al., 2016) and its generalized form (Hermans et al.).

    With Euclidean distances ``d`` between normalized embeddings, for each positive pair
    ``(i, j)``: ``l_ij = relu(log sum_{(a, n) neg, a in {i, j}} e^{neg_margin - d_an}
    + d_ij - pos_margin)^2 / 2``, averaged over the ordered positive pairs (pml
    ``LiftedStructureLoss``). With ``generalized=True``, per anchor ``i``:
    ``l_i = relu(log sum_P e^{d_ip - pos_margin} + log sum_N e^{neg_margin - d_in})``, averaged
    over the anchors (pml ``GeneralizedLiftedStructureLoss``).

    Gradient: by autograd through the masked log-sum-exps (softmax weights over the pairs).

    Reproduces pml ``LiftedStructureLoss(neg_margin, pos_margin)`` and
    ``GeneralizedLiftedStructureLoss(neg_margin, pos_margin)``. A row without negatives (or
    positives) has log-sum-exp 0 there, as pml.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.lifted_structure_loss(x, torch.tensor([0, 0, 1]))
        tensor(1.3428)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    params = (float(neg_margin), float(pos_margin))
    if generalized:
        return _pairwise.apply(
            "GeneralizedLiftedStructureLossBackward",
            embeddings,
            pairs,
            _generalized_lifted_kernel,
            _generalized_lifted,
            params,
        )
    if not _has_both_kinds(pairs):
        return _zero(embeddings)
    return _pairwise.apply(
        "LiftedStructureLossBackward", embeddings, pairs, _lifted_kernel, _lifted, params
    )


def _generalized_lifted_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, neg_margin: float, pos_margin: float
):
    """The generalized lifted structure loss on one ``(N, N)`` buffer: the distances, then
    ``(dl/dd) / d`` in place (softmax weights of each row's two log-sum-exps)."""
    size = unit.shape[0]
    ratio = _pairwise.EuclideanDistances(unit).rows(0, size, np.empty((size, size), unit.dtype))
    losses = np.empty(size, unit.dtype)

    def rows(start: int, stop: int) -> None:
        block = ratio[start:stop]
        count = stop - start
        anchors, positives = pairs.in_block(start, stop)
        positive_distances = block[anchors, positives]
        positive_lse, positive_softmax = _pair_softmax(
            positive_distances - pos_margin, anchors, count
        )
        logits = np.subtract(
            neg_margin, block, out=_pairwise.scratch_rows(count, size, block.dtype, 2)
        )
        negative_lse, inverse = _negative_softmax(logits, pairs, start, stop, 1.0)
        total = positive_lse + negative_lse
        losses[start:stop] = np.maximum(total, 0)
        slope = (total > 0).astype(block.dtype)
        logits *= (-slope * inverse)[:, None]  # dl/dd of the negatives
        np.divide(logits, block, out=block, where=block > 0)  # d == 0 stays 0
        block[anchors, positives] = _ratio(slope[anchors] * positive_softmax, positive_distances)

    _pairwise.map_row_blocks(rows, size)
    return losses.mean(), _pairwise.distance_gradient(ratio, 1 / size)


def _ratio(slope: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """``slope / d``, 0 where ``d == 0`` (cdist's subgradient)."""
    return np.divide(slope, distances, out=np.zeros_like(slope), where=distances > 0)


def _lifted_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, neg_margin: float, pos_margin: float
):
    """The lifted structure loss on one ``(N, N)`` buffer, in two passes over its rows: each
    row's log-sum-exp over its negatives; then, with the positive pairs' losses known,
    ``(dl/dd) / d`` in place."""
    size = unit.shape[0]
    ratio = _pairwise.EuclideanDistances(unit).rows(0, size, np.empty((size, size), unit.dtype))
    row_lse = np.empty(size, unit.dtype)

    def negative_logits(start: int, stop: int) -> np.ndarray:
        """``neg_margin - d`` on the negatives of rows ``start:stop``, ``-inf`` elsewhere."""
        scratch = _pairwise.scratch_rows(stop - start, size, unit.dtype, 2)
        logits = np.subtract(neg_margin, ratio[start:stop], out=scratch)
        np.copyto(logits, -np.inf, where=_pairwise.same_label(pairs, start, stop))
        return logits

    def log_sums(start: int, stop: int) -> None:
        logits = negative_logits(start, stop)
        row_lse[start:stop] = _negative_softmax(logits, pairs, start, stop, 1.0)[0]

    _pairwise.map_row_blocks(log_sums, size)
    anchors, positives = pairs.anchors, pairs.positives
    positive_distances = ratio[anchors, positives]
    kept = pairs.has_negative
    first, second = row_lse[anchors], row_lse[positives]
    both = kept[anchors] & kept[positives]
    pair_lse = np.where(both, np.logaddexp(first, second), np.where(kept[anchors], first, second))
    pair_lse = np.where(kept[anchors] | kept[positives], pair_lse, 0)
    count = anchors.size
    hinge = np.maximum(pair_lse + positive_distances - pos_margin, 0)
    share = np.where(both, _pairwise.sigmoid(first - second), kept[anchors]).astype(unit.dtype)
    lse_slope = _pairwise.group_sum(hinge * share, anchors, size)
    lse_slope += _pairwise.group_sum(hinge * (1 - share), positives, size)
    lse_slope *= -1 / count  # dl/d(row_lse), the negatives' distances entering with a minus

    def gradients(start: int, stop: int) -> None:
        block = ratio[start:stop]
        softmax = negative_logits(start, stop)
        softmax -= row_lse[start:stop, None]
        np.exp(softmax, out=softmax)
        softmax *= lse_slope[start:stop, None]
        np.divide(softmax, block, out=block, where=block > 0)  # d == 0 stays 0
        in_rows = pairs.in_rows(start, stop)
        block[anchors[in_rows] - start, positives[in_rows]] = _ratio(
            hinge[in_rows] / count, positive_distances[in_rows]
        )

    _pairwise.map_row_blocks(gradients, size)
    return (hinge * hinge).sum() / (2 * count), _pairwise.distance_gradient(ratio, 1.0)


def _generalized_lifted(
    embeddings: Tensor, labels: np.ndarray, neg_margin: float, pos_margin: float
) -> Tensor:
    positive, negative = _pair_masks(labels)
    distances = _euclidean_distances(embeddings)
    positive_lse = _masked_logsumexp(distances - pos_margin, positive)
    negative_lse = _masked_logsumexp(neg_margin - distances, negative)
    return mean(relu(positive_lse + negative_lse))


def _lifted(embeddings: Tensor, labels: np.ndarray, neg_margin: float, pos_margin: float) -> Tensor:
    positive, negative = _pair_masks(labels)
    distances = _euclidean_distances(embeddings)
    row_lse = _masked_logsumexp(neg_margin - distances, negative)  # (N, 1)
    size = positive.shape[0]
    has_negative = negative.any(1)
    both_rows = stack([row_lse.expand(size, size), row_lse.t().expand(size, size)], 2)
    both_kept = np.stack(np.broadcast_arrays(has_negative[:, None], has_negative[None, :]), 2)
    pair_lse = _masked_logsumexp(both_rows, both_kept, dim=2).squeeze(2)
    pair_losses = relu(pair_lse + distances - pos_margin) ** 2 / 2
    return _sum(where(Tensor._make(positive), pair_losses, 0.0)) / int(positive.sum())


def npairs_loss(embeddings: Tensor, labels: Tensor) -> Tensor:
    """N-pairs loss (Sohn, 2016): one positive pair per class, each anchor classifies its positive
    among the other classes' positives by dot product.

    For each label, the first positive pair ``(a, p)`` in row-major order is taken (pml's
    ``convert_to_pos_pairs_with_unique_labels``); with ``A``, ``P`` the stacked anchors and
    positives (normalized, as pml's ``DotProductSimilarity`` does by default):
    ``l = CE(A P^T, arange(K))``, the mean over the ``K`` pairs.

    Gradient: ``dl/dA = (softmax(A P^T) - E) P / K`` and ``dl/dP = (softmax(A P^T) - E)^T A / K``.

    Reproduces pml ``NPairsLoss()``.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [1., 0.1], [0., 1.], [0.1, 1.]])
        >>> torch.nn.functional.npairs_loss(x, torch.tensor([0, 0, 1, 1]))
        tensor(0.3424)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    anchors, positives = pairs.anchors, pairs.positives
    if anchors.size == 0:
        return _zero(embeddings)
    _, first = np.unique(pairs.labels[anchors], return_index=True)
    anchors, positives = anchors[first], positives[first]
    unit = _normalize(embeddings)
    logits = unit[anchors] @ unit[positives].t()
    return cross_entropy(logits, Tensor._make(np.arange(anchors.size)))


def margin_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    beta: float | Tensor = 1.2,
    nu: float = 0.0,
) -> Tensor:
    """Margin loss (Wu et al., 2017, "Sampling matters"), over all triplets of the batch.

    With Euclidean distances ``d`` between normalized embeddings and boundary ``beta``, each
    triplet ``(a, p, n)`` costs ``relu(d_ap - beta + margin) + relu(beta - d_an + margin)``; the
    sum over triplets is divided by the number of non-zero terms of both kinds.

    Computed on pairs: a positive pair's term enters once per negative of its anchor and a
    negative pair's once per positive, so the ``O(N^3)`` triplets are never enumerated.

    Gradient: ``dd_ap/dx`` and ``-dd_an/dx`` on the active terms, weighted by those counts, over
    the divisor; ``dl/dbeta`` is the count of active negative terms minus positive ones, over it.

    Reproduces pml ``MarginLoss(margin, nu, beta)`` (all triplets, ``DivisorReducer``).
    ``beta`` may be a Tensor (a learnable scalar, or one value per class indexed by the anchor's
    label, as pml's ``learn_beta`` / ``num_classes``); then, as pml, ``nu * beta`` is added as a
    regularizer (for per-class ``beta``: ``nu`` times the sum of the anchors' ``beta`` over the
    triplets, over the divisor). A plain-number ``beta`` ignores ``nu`` (pml's
    ``learn_beta=False``).

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.margin_loss(x, torch.tensor([0, 0, 1]))
        tensor(0.7675)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    if not (pairs.has_negative & (pairs.class_size > 1)).any():
        return _zero(embeddings)
    if isinstance(beta, Tensor):
        return _margin(embeddings, pairs.labels, margin, beta, nu)
    return _pairwise.apply(
        "MarginLossBackward",
        embeddings,
        pairs,
        _margin_kernel,
        _margin,
        (float(margin), float(beta), nu),
    )


def _margin_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, margin: float, beta: float, nu: float
):
    """The margin loss (a number ``beta``) on one ``(N, N)`` buffer: the distances, then
    ``(dl/dd) / d`` in place: ``-|P(i)| / d`` on the active negative pairs, ``|N(i)| / d`` on the
    active positive pairs, all over the divisor."""
    size = unit.shape[0]
    ratio = _pairwise.EuclideanDistances(unit).rows(0, size, np.empty((size, size), unit.dtype))
    positives_per_row = pairs.positives_per_row.astype(unit.dtype)
    negatives_per_row = (size - pairs.class_size).astype(unit.dtype)
    anchors, positives = pairs.anchors, pairs.positives
    positive_distances = ratio[anchors, positives]
    positive_terms = positive_distances - beta + margin
    negative_sums = np.empty(size, unit.dtype)
    negative_counts = np.empty(size, np.int64)

    def rows(start: int, stop: int) -> None:
        block = ratio[start:stop]
        count = stop - start
        terms = np.subtract(
            beta + margin, block, out=_pairwise.scratch_rows(count, size, block.dtype, 3)
        )
        np.maximum(terms, 0, out=terms)
        np.copyto(terms, 0, where=_pairwise.same_label(pairs, start, stop))
        negative_counts[start:stop] = np.count_nonzero(terms, 1)
        negative_sums[start:stop] = terms @ _parallel.ones(size, block.dtype)
        active = np.greater(terms, 0, out=_pairwise.scratch_rows(count, size, bool, 2))
        weights = np.multiply(active, -positives_per_row[start:stop, None], out=terms)
        np.divide(weights, block, out=block, where=block > 0)  # d == 0 stays 0

    _pairwise.map_row_blocks(rows, size)
    positive_active = positive_terms > 0
    positive_weights = positive_active * negatives_per_row[anchors]
    divisor = float(positive_weights.sum() + negative_counts @ positives_per_row)
    if divisor == 0:
        return 0.0, _pairwise.distance_gradient(ratio, 0.0)
    ratio[anchors, positives] = _ratio(positive_weights, positive_distances)
    total = np.maximum(positive_terms, 0) @ negatives_per_row[anchors]
    total += negative_sums @ positives_per_row
    return total / divisor, _pairwise.distance_gradient(ratio, 1 / divisor)


def _margin(
    embeddings: Tensor, labels: np.ndarray, margin: float, beta: float | Tensor, nu: float
) -> Tensor:
    positive, negative = _pair_masks(labels)
    label_array = labels
    distances = _euclidean_distances(embeddings)
    learned_beta = beta if isinstance(beta, Tensor) else None
    if learned_beta is not None and learned_beta.numel() > 1:
        beta = learned_beta[label_array].unsqueeze(1)
    negatives_per_anchor = _constant(negative.sum(1, keepdims=True), embeddings)
    positives_per_anchor = _constant(positive.sum(1, keepdims=True), embeddings)
    positive_terms = where(Tensor._make(positive), relu(distances - beta + margin), 0.0)
    negative_terms = where(Tensor._make(negative), relu(beta - distances + margin), 0.0)
    active = (positive_terms._data > 0) * negatives_per_anchor._data + (
        negative_terms._data > 0
    ) * positives_per_anchor._data
    divisor = float(active.sum())
    total = _sum(positive_terms * negatives_per_anchor + negative_terms * positives_per_anchor)
    if divisor == 0:
        return _zero(embeddings)
    loss = total / divisor
    if learned_beta is not None and nu:
        if learned_beta.numel() == 1:
            return loss + nu * learned_beta.reshape(())
        triplets_per_anchor = positives_per_anchor * negatives_per_anchor
        return loss + nu * _sum(beta * triplets_per_anchor) / divisor
    return loss


def circle_loss(
    embeddings: Tensor,
    labels: Tensor,
    m: float = 0.4,
    gamma: float = 80.0,
    convention: str = "pml",
) -> Tensor:
    """Circle loss (Sun et al., 2020), pair-wise form.

    With cosine similarities ``s``, per anchor ``i``:
    ``l_i = softplus(log sum_P e^{-gamma a_p (s_ip - (1 - m))}
    + log sum_N e^{gamma a_n (s_in - m)})``
    with weights ``a_p = relu(1 + m - s_ip)``, ``a_n = relu(s_in + m)``; anchors without a
    positive or a negative give 0; the loss is the mean of the non-zero ``l_i``.

    Two conventions (equal values on unit-norm embeddings, different gradients):

    * ``'pml'`` (pml ``CircleLoss(m, gamma)``): the embeddings are normalized, and the weights
      ``a_p``, ``a_n`` are constants for autograd (detached, as the paper's reference code);
    * ``'keras'`` (Keras ``Circle(gamma, margin=m)``): the embeddings are used as given (Keras
      expects them normalized), the cosine distance ``1 - s`` is clamped at 0, and the weights
      are differentiated.

    Gradient (pml): ``dl_i/ds_ip = -gamma a_p w_ip sigma_i`` and ``dl_i/ds_in = gamma a_n w_in
    sigma_i``, ``w`` the softmax weights of each log-sum-exp and ``sigma_i`` the sigmoid of the
    softplus argument, over the count of non-zero anchors.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
        >>> torch.nn.functional.circle_loss(x, torch.tensor([0, 0, 1]), gamma=2.0)
        tensor(0.9150)
    """
    embeddings, pairs = _pair_batch(embeddings, labels)
    if convention not in ("pml", "keras"):
        raise ValueError(f"convention must be 'pml' or 'keras', got {convention!r}")
    params = (float(m), float(gamma), convention)
    if convention == "keras":
        return _circle(embeddings, pairs.labels, *params)
    return _pairwise.apply("CircleLossBackward", embeddings, pairs, _circle_kernel, _circle, params)


def _circle_kernel(
    unit: np.ndarray, pairs: _pairwise.PairLabels, m: float, gamma: float, convention: str
):
    """pml's circle loss on one ``(N, N)`` buffer: similarities, then the negatives' logits
    ``gamma a_n (s - m)`` and their softmax, then ``dl/ds`` in place (the weights ``a`` are
    constants, as pml's)."""
    size = unit.shape[0]
    gradient = _pairwise.cosine_similarities(unit)
    losses = np.empty(size, unit.dtype)
    usable = pairs.has_negative & (pairs.class_size > 1)

    def rows(start: int, stop: int) -> None:
        block = gradient[start:stop]
        count = stop - start
        anchors, positives = pairs.in_block(start, stop)
        positive_scales = -gamma * np.maximum(1 + m - block[anchors, positives], 0)
        positive_logits = positive_scales * (block[anchors, positives] - (1 - m))
        scales = np.add(block, m, out=_pairwise.scratch_rows(count, size, block.dtype, 2))
        np.maximum(scales, 0, out=scales)
        scales *= gamma  # d(logit)/ds of each negative: gamma a_n
        block -= m
        block *= scales
        negative_lse, inverse = _negative_softmax(block, pairs, start, stop, 1.0)
        positive_lse, positive_softmax = _pair_softmax(positive_logits, anchors, count)
        total = positive_lse + negative_lse
        row_usable = usable[start:stop]
        row_losses, slope = _torch_softplus(total)
        losses[start:stop] = np.where(row_usable, row_losses, 0)
        slope = np.where(row_usable, slope, 0)
        block *= scales
        block *= (slope * inverse)[:, None]
        block[anchors, positives] = slope[anchors] * positive_softmax * positive_scales

    _pairwise.map_row_blocks(rows, size)
    nonzero = max(int(np.count_nonzero(losses > 0)), 1)
    return losses.sum() / nonzero, _pairwise.similarity_gradient(gradient, 1 / nonzero)


def _torch_softplus(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torch's ``softplus`` (``log1p(e^x)``, ``x`` itself above 20) and its slope."""
    above = values > 20
    return np.where(above, values, np.log1p(np.exp(values))), np.where(
        above, 1, _pairwise.sigmoid(values)
    )


def _pair_softmax(
    logits: np.ndarray, anchors: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row ``i``, ``log sum_{pairs (i, j)} e^{logit}`` (0 for rows without pairs) and each
    pair's softmax weight within its row; ``anchors`` sorted."""
    row_max = _pairwise.group_max(logits, anchors, size, 0)
    shifted = np.exp(logits - row_max[anchors])
    totals = _pairwise.group_sum(shifted, anchors, size)
    has_pairs = totals > 0
    lse = np.where(has_pairs, row_max + np.log(np.where(has_pairs, totals, 1)), 0)
    return lse, shifted / totals[anchors]


def _circle(embeddings: Tensor, labels: np.ndarray, m: float, gamma: float, convention: str):
    positive, negative = _pair_masks(labels)
    if convention == "pml":
        similarities = _cosine_similarities(embeddings)
        weights_source = similarities.detach()
    else:
        distances = clamp_min(1 - embeddings @ embeddings.t(), 0.0)
        similarities = 1 - distances
        weights_source = similarities
    anchors, positives = np.nonzero(positive)  # the few positive pairs, gathered
    positive_weights = relu(1 + m - weights_source[anchors, positives])
    positive_logits = -gamma * positive_weights * (similarities[anchors, positives] - (1 - m))
    positive_lse = _pair_logsumexp(positive_logits, anchors, len(positive))
    negative_logits = gamma * relu(weights_source + m) * (similarities - m)
    negative_lse = _masked_logsumexp(negative_logits, negative).squeeze(1)
    usable = Tensor._make(positive.any(1) & negative.any(1))
    losses = where(usable, softplus(positive_lse + negative_lse), 0.0)
    return _mean_of_positive(losses)


# --------------------------------------------------------------------- redundancy reduction


def barlow_twins_loss(embeddings_a: Tensor, embeddings_b: Tensor, lambd: float = 5e-3) -> Tensor:
    """Barlow Twins (Zbontar et al., 2021): the cross-correlation of two views close to identity.

    Each view is standardized per feature over the batch, ``(x - mean) / (std + 1e-6)`` with the
    unbiased ``std``; ``C = a^T b / N`` (``(D, D)``) and
    ``l = sum_i (1 - C_ii)^2 + lambd sum_{i != j} C_ij^2``.

    Gradient: ``dl/dC = -2 (1 - C) on the diagonal, 2 lambd C off it``, through the
    standardization.

    Reproduces MONAI ``BarlowTwinsLoss(lambd)(embeddings_a, embeddings_b)``.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
        >>> torch.nn.functional.barlow_twins_loss(x, x)
        tensor(0.1250)
    """
    embeddings_a, embeddings_b = _check_views(
        embeddings_a, embeddings_b, ("embeddings_a", "embeddings_b")
    )
    size = embeddings_a.shape[0]
    correlation = _standardized(embeddings_a).t() @ _standardized(embeddings_b) / size
    diagonal = Tensor._make(np.eye(correlation.shape[0], dtype=bool))
    on_diagonal = _sum(where(diagonal, (1 - correlation) ** 2, 0.0))
    off_diagonal = _sum(where(diagonal, 0.0, correlation**2))
    return on_diagonal + lambd * off_diagonal


def _standardized(embeddings: Tensor) -> Tensor:
    """MONAI's per-feature standardization: ``(x - mean) / (std + 1e-6)``, unbiased std."""
    return (embeddings - mean(embeddings, 0)) / (embeddings.std(0) + 1e-6)


def vicreg_loss(
    embeddings: Tensor,
    ref_embeddings: Tensor,
    invariance_lambda: float = 25.0,
    variance_mu: float = 25.0,
    covariance_v: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    """VICReg (Bardes et al., 2022): invariance + variance + covariance regularization.

    For two views ``x``, ``y`` ``(N, D)``: invariance ``I = mean((x - y)^2)``; variance
    ``V = (mean_k relu(1 - sqrt(var(x)_k + eps)) + mean_k relu(1 - sqrt(var(y)_k + eps))) / 2``
    (unbiased variance per feature); covariance ``C = sum_{i != j} cov(x)[i, j]^2 / D`` plus the
    same for ``y``, with ``cov(x) = x_c^T x_c / (N - 1)``. The loss is
    ``invariance_lambda * I + variance_mu * V + covariance_v * C``.

    Gradient: by autograd; ``dI/dx = 2 (x - y) / (N D)``, the variance hinge is active for the
    features whose std is below 1, ``dC/dcov(x)[i, j] = 2 cov(x)[i, j] / D`` off the diagonal.

    Reproduces pml ``VICRegLoss(invariance_lambda, variance_mu, covariance_v, eps)``.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
        >>> torch.nn.functional.vicreg_loss(x, x)
        tensor(4.5861)
    """
    embeddings, ref_embeddings = _check_views(
        embeddings, ref_embeddings, ("embeddings", "ref_embeddings")
    )
    invariance = mean((embeddings - ref_embeddings) ** 2)
    variance = (_variance_term(embeddings, eps) + _variance_term(ref_embeddings, eps)) / 2
    covariance = _covariance_term(embeddings) + _covariance_term(ref_embeddings)
    return invariance_lambda * invariance + variance_mu * variance + covariance_v * covariance


def _variance_term(embeddings: Tensor, eps: float) -> Tensor:
    return mean(relu(1 - (embeddings.var(0) + eps) ** 0.5))


def _covariance_term(embeddings: Tensor) -> Tensor:
    size, width = embeddings.shape
    centered = embeddings - mean(embeddings, 0)
    covariance = centered.t() @ centered / (size - 1)
    diagonal = Tensor._make(np.eye(width, dtype=bool))
    return _sum(where(diagonal, 0.0, covariance**2)) / width


# ---------------------------------------------------------- classification-style margins


def _class_labels(labels: Any, embeddings: Tensor, num_classes: int) -> np.ndarray:
    """Class indices in ``[0, num_classes)``, one per row of ``embeddings``."""
    array = _labels(labels, embeddings)
    if array.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) (num_classes), got values from "
            f"{array.min()} to {array.max()}"
        )
    return array


def _check_weight(weight: Any, embeddings: Tensor, name: str, class_dim: int) -> int:
    """The number of classes held by ``weight``; ValueError unless its embedding dimension (the
    one that is not ``class_dim``) matches the embeddings'."""
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"{name} must be a 2-D Tensor, got {shape}")
    if weight.shape[1 - class_dim] != embeddings.shape[1]:
        layout = (
            "(embedding_size, num_classes)" if class_dim == 1 else "(num_classes, embedding_size)"
        )
        raise ValueError(
            f"{name} must have shape {layout} with embedding_size {embeddings.shape[1]}, got "
            f"{tuple(weight.shape)}"
        )
    return weight.shape[class_dim]


def _class_cosines(embeddings: Tensor, weight: Tensor) -> Tensor:
    """Cosine of each embedding with each column of ``weight`` ``(D, C)``: ``(N, C)``."""
    columns = weight / clamp_min(norm(weight, 2, 0, keepdim=True), _NORMALIZE_EPS)
    return _normalize(embeddings) @ columns


def _with_target_logit(cosines: Tensor, labels: np.ndarray, target_logit: Tensor) -> Tensor:
    """``cosines`` with each row's target entry replaced by ``target_logit`` (as pml's
    ``cosine + mask * (modified - cosine)``)."""
    one_hot = np.zeros(cosines.shape, bool)
    one_hot[np.arange(labels.size), labels] = True
    target_cosines = cosines[np.arange(labels.size), labels]
    return cosines + _constant(one_hot, cosines) * (target_logit - target_cosines).unsqueeze(1)


def _arcface_target(target_cosines: Tensor, margin_radians: float) -> Tensor:
    """``cos(theta + m)`` where ``theta <= pi - m``, else ``cos(theta) - m sin(m)``; ``theta`` the
    angle of the clamped cosine (pml's ``ArcFaceLoss``)."""
    cosine = target_cosines.clamp(-1.0, 1.0)
    sine = (1 - cosine * cosine).clamp(min=0.0) ** 0.5
    angles = np.arccos(np.clip(target_cosines._data, -1, 1))
    in_range = Tensor._make(angles <= np.deg2rad(180) - margin_radians)
    shifted = cosine * math.cos(margin_radians) - sine * math.sin(margin_radians)
    return where(in_range, shifted, cosine - margin_radians * math.sin(margin_radians))


def _margin_softmax_inputs(embeddings: Tensor, labels: Any, weight: Tensor, sub_centers: int = 1):
    embeddings = _check_embeddings(embeddings, min_rows=1)
    num_classes = _check_weight(weight, embeddings, "weight", 1) // sub_centers
    return embeddings, _class_labels(labels, embeddings, num_classes)


def arcface_loss(
    embeddings: Tensor, labels: Tensor, weight: Tensor, margin: float = 28.6, scale: float = 64.0
) -> Tensor:
    """ArcFace, the additive angular margin loss (Deng et al., 2019).

    With ``cos(theta_ij)`` the cosine between embedding ``i`` and class column ``W_j``: the target
    logit becomes ``cos(theta_iy + m)`` (``cos(theta_iy) - m sin(m)`` beyond ``theta > pi - m``),
    all logits are multiplied by ``scale`` and the loss is the mean cross-entropy.

    Gradient: through the cross-entropy,
    ``d cos(theta + m)/d cos(theta) = cos m + cos(theta) sin m /
    sin(theta)``, and the normalizations of the embeddings and of ``W``'s columns.

    Reproduces pml ``ArcFaceLoss(num_classes, embedding_size, margin, scale)`` with its ``W``.

    Args:
        embeddings: ``(N, D)``.
        labels: ``(N)`` class indices in ``[0, C)``.
        weight: ``(D, C)``, the class centres (pml's ``W``).
        margin: in degrees (pml's convention). Default 28.6 (0.5 rad).
        scale: Default 64.

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.arcface_loss(x, torch.tensor([0, 1]), w, scale=4.0)
        tensor(0.0294)
    """
    embeddings, labels = _margin_softmax_inputs(embeddings, labels, weight)
    cosines = _class_cosines(embeddings, weight)
    target = _arcface_target(cosines[np.arange(labels.size), labels], math.radians(margin))
    logits = _with_target_logit(cosines, labels, target) * scale
    return cross_entropy(logits, Tensor._make(labels))


def subcenter_arcface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    margin: float = 28.6,
    scale: float = 64.0,
    sub_centers: int = 3,
) -> Tensor:
    """Sub-center ArcFace (Deng et al., 2020): ``K`` centres per class, the closest one counts.

    ``W`` holds ``C * K`` columns, class ``c``'s centres at ``c*K .. c*K + K - 1``; the cosine of
    class ``c`` is the largest of its ``K`` cosines; then as ``arcface_loss``.

    Gradient: as ArcFace, flowing to the chosen (largest) centre of each class only.

    Reproduces pml ``SubCenterArcFaceLoss(num_classes, embedding_size, margin, scale,
    sub_centers)``.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.], [0., 1.]])
        >>> w = torch.tensor([[1., 0., 0., -1.], [0., 1., 1., 0.]])
        >>> torch.nn.functional.subcenter_arcface_loss(x, torch.tensor([0, 1]), w, scale=4.0,
        ...                                            sub_centers=2)
        tensor(0.4980)
    """
    embeddings, labels = _margin_softmax_inputs(embeddings, labels, weight, sub_centers)
    cosines = _class_cosines(embeddings, weight)
    size = embeddings.shape[0]
    cosines = cosines.reshape(size, -1, sub_centers).max(2)[0]
    target = _arcface_target(cosines[np.arange(size), labels], math.radians(margin))
    logits = _with_target_logit(cosines, labels, target) * scale
    return cross_entropy(logits, Tensor._make(labels))


def cosface_loss(
    embeddings: Tensor, labels: Tensor, weight: Tensor, margin: float = 0.35, scale: float = 64.0
) -> Tensor:
    """CosFace, the additive cosine margin loss (Wang et al., 2018; also AM-Softmax).

    The target logit ``cos(theta_iy)`` becomes ``cos(theta_iy) - margin``, all logits are
    multiplied by ``scale``, and the loss is the mean cross-entropy.

    Gradient: the cross-entropy's ``softmax - onehot`` times ``scale``, through the cosines.

    Reproduces pml ``CosFaceLoss(num_classes, embedding_size, margin, scale)``.

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.cosface_loss(x, torch.tensor([0, 1]), w, scale=4.0)
        tensor(0.0716)
    """
    embeddings, labels = _margin_softmax_inputs(embeddings, labels, weight)
    cosines = _class_cosines(embeddings, weight)
    target = cosines[np.arange(labels.size), labels] - margin
    logits = _with_target_logit(cosines, labels, target) * scale
    return cross_entropy(logits, Tensor._make(labels))


def _multiplicative_angular_target(target_cosines: Tensor, margin: int) -> Tensor:
    """``(-1)^k cos(m theta) - 2k`` with ``cos(m theta)`` as the polynomial
    ``sum_n (-1)^n C(m, 2n) c^(m-2n) (1 - c^2)^n`` in ``c = cos(theta)`` and
    ``k = floor(theta m / pi)`` (Liu et al., 2016, eq. 6-7)."""
    cosine_squared_complement = 1 - target_cosines * target_cosines
    cos_m_theta = 0.0
    for n in range(margin // 2 + 1):
        term = math.comb(margin, 2 * n) * target_cosines ** (margin - 2 * n)
        if n:
            term = term * cosine_squared_complement**n
        cos_m_theta = cos_m_theta + (-1) ** n * term
    angles = np.arccos(np.clip(target_cosines._data, -1, 1))
    k = np.floor(angles / (math.pi / margin))
    return cos_m_theta * _constant((-1.0) ** k, target_cosines) - _constant(2 * k, target_cosines)


def large_margin_softmax_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    margin: int = 4,
    scale: float = 1.0,
    normalize_weights: bool = False,
) -> Tensor:
    """Large-margin softmax (L-Softmax, Liu et al., 2016) and SphereFace (A-Softmax, Liu et al.,
    2017): a multiplicative angular margin.

    The target cosine ``cos(theta_iy)`` becomes ``psi(theta) = (-1)^k cos(m theta) - 2k`` with
    ``k = floor(m theta / pi)``; the logits are then multiplied by ``scale * |x_i|`` and, for
    L-Softmax (``normalize_weights=False``), by ``|W_j|`` as well; SphereFace
    (``normalize_weights=True``) uses unit class weights. Mean cross-entropy.

    Gradient: through the polynomial ``cos(m theta)`` in ``cos(theta)``; ``k`` is piecewise
    constant.

    Reproduces pml ``LargeMarginSoftmaxLoss(num_classes, embedding_size, margin, scale)`` and,
    with ``normalize_weights=True``, pml ``SphereFaceLoss``.

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.large_margin_softmax_loss(x, torch.tensor([0, 1]), w)
        tensor(0.3133)
    """
    embeddings, labels = _margin_softmax_inputs(embeddings, labels, weight)
    margin = int(margin)
    cosines = _class_cosines(embeddings, weight)
    target = _multiplicative_angular_target(cosines[np.arange(labels.size), labels], margin)
    logits = _with_target_logit(cosines, labels, target)
    magnitudes = norm(embeddings, 2, 1).unsqueeze(1) * scale
    if not normalize_weights:
        magnitudes = magnitudes * norm(weight, 2, 0).unsqueeze(0)
    return cross_entropy(logits * magnitudes, Tensor._make(labels))


def normalized_softmax_loss(
    embeddings: Tensor, labels: Tensor, weight: Tensor, temperature: float = 0.05
) -> Tensor:
    """Normalized softmax (Zhai and Wu, 2019; NormFace): cross-entropy over cosine logits.

    ``l_i = CE(cos(x_i, W_j) / temperature, y_i)``, averaged over the batch.

    Gradient: ``(softmax - onehot) / temperature`` through the cosines.

    Reproduces pml ``NormalizedSoftmaxLoss(num_classes, embedding_size, temperature)``.

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.normalized_softmax_loss(x, torch.tensor([0, 1]), w, 1.0)
        tensor(0.3133)
    """
    temperature = _check_positive(temperature, "temperature")
    embeddings, labels = _margin_softmax_inputs(embeddings, labels, weight)
    logits = _class_cosines(embeddings, weight) / temperature
    return cross_entropy(logits, Tensor._make(labels))


def proxy_anchor_loss(
    embeddings: Tensor, labels: Tensor, proxies: Tensor, margin: float = 0.1, alpha: float = 32.0
) -> Tensor:
    """Proxy-Anchor loss (Kim et al., 2020): each class proxy is an anchor pulling its samples and
    pushing the others.

    With ``s_ic`` the cosine between embedding ``i`` and proxy ``c``:
    ``l = (1/|C+|) sum_{c in C+} log(1 + sum_{i: y_i = c} e^{-alpha (s_ic - margin)})
    + (1/C) sum_c log(1 + sum_{i: y_i != c} e^{alpha (s_ic + margin)})``, ``C+`` the classes
    present in the batch.

    Gradient: softmax-like weights of each log-sum-exp times ``-alpha`` (positives) or ``alpha``
    (negatives), through the cosines (proxies included).

    Reproduces pml ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)``.

    Args:
        embeddings: ``(N, D)``.
        labels: ``(N)`` in ``[0, C)``.
        proxies: ``(C, D)`` (pml's layout).

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.proxy_anchor_loss(x, torch.tensor([0, 1]), w, alpha=4.0)
        tensor(0.9400)
    """
    embeddings = _check_embeddings(embeddings, min_rows=1)
    num_classes = _check_weight(proxies, embeddings, "proxies", 0)
    labels = _class_labels(labels, embeddings, num_classes)
    cosines_by_class = _class_cosines(embeddings, proxies.t()).t()  # (C, N)
    members = np.zeros((num_classes, labels.size), bool)
    members[labels, np.arange(labels.size)] = True
    positive_terms = _log1p_sum_exp(-alpha * (cosines_by_class - margin), members)
    negative_terms = _log1p_sum_exp(alpha * (cosines_by_class + margin), ~members)
    classes_present = int(members.any(1).sum())
    return _sum(positive_terms) / classes_present + _sum(negative_terms) / num_classes


def proxy_nca_loss(
    embeddings: Tensor, labels: Tensor, proxies: Tensor, softmax_scale: float = 1.0
) -> Tensor:
    """Proxy-NCA (Movshovitz-Attias et al., 2017): NCA with one learnable proxy per class.

    With ``d_ic`` the squared Euclidean distance between the normalized embedding and the
    normalized proxy: ``l_i = -log softmax_c(-softmax_scale * d_ic)[y_i]``, averaged.

    Gradient: ``softmax_scale (q_ic - [c = y_i]) dd_ic/dx`` with ``q`` the softmax.

    Reproduces pml ``ProxyNCALoss(num_classes, embedding_size, softmax_scale)`` (its
    ``LpDistance(power=2)``). pml drops the rows whose probability underflows to exactly 0;
    lossgrad evaluates them with a log-softmax (finite).

    Example:
        >>> import lossgrad as torch
        >>> x, w = torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[1., 0.], [0., 1.]])
        >>> torch.nn.functional.proxy_nca_loss(x, torch.tensor([0, 1]), w)
        tensor(0.1269)
    """
    embeddings = _check_embeddings(embeddings, min_rows=1)
    num_classes = _check_weight(proxies, embeddings, "proxies", 0)
    labels = _class_labels(labels, embeddings, num_classes)
    unit_proxies = _normalize(proxies)
    squared_distances = cdist(_normalize(embeddings), unit_proxies) ** 2
    return cross_entropy(-softmax_scale * squared_distances, Tensor._make(labels))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
