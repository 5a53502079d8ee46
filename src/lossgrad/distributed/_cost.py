"""ExactMean: a loss's ``reduction='mean'`` over a batch split into pieces, exactly.

The mean of a loss over a batch is ``Σ loss / D``, D its denominator: the number of elements,
or the summed class weights of the non-ignored targets (cross-entropy, NLL), or the number of
sequences (CTC, after dividing each loss by its target length), or the batch size (KL's
``'batchmean'``). When the batch is split into pieces (micro-batches for gradient accumulation,
shards on several ranks), averaging the pieces' means weights each piece equally, whatever its
D: that is not the mean over the batch. The exact cost adds each piece's ``Σ loss / D_total``,
with ``D_total`` counted once, over every piece of every rank, before the first backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.distributed import _core


def _values(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _rows(x: Any, feature_dims: int = 1) -> float:
    """The number of samples of ``x`` when its last ``feature_dims`` dims are features."""
    shape = _values(x).shape
    return float(np.prod(shape[: len(shape) - feature_dims])) if len(shape) > feature_dims else 1.0


def _class_index_count(target: Any, weight: Any, ignore_index: int) -> float:
    """Σ weight[y] over the targets y ≠ ignore_index (their number without a weight)."""
    labels = _values(target)
    kept = labels[labels != ignore_index]
    if weight is None:
        return float(kept.size)
    return float(_values(weight).astype(np.float64)[kept].sum())


def _cross_entropy_count(
    target: Any, *, weight: Any = None, ignore_index: int = -100, **_: Any
) -> float:
    labels = _values(target)
    if labels.dtype.kind == "f":  # probability targets: the mean is over N·d1…dK, not weights
        return labels.size / labels.shape[1] if labels.ndim > 1 else 1.0
    return _class_index_count(labels, weight, ignore_index)


def _ctc_count(targets: Any, input_lengths: Any, target_lengths: Any, **_: Any) -> float:
    return float(np.asarray(_values(target_lengths)).size)


def _kl_div_count(target: Any, *, reduction: str = "mean", **_: Any) -> float:
    values = _values(target)
    if reduction == "batchmean":
        return float(values.shape[0]) if values.ndim else 1.0
    return float(values.size)


def _per_sample_count(target: Any, *rest: Any, **_: Any) -> float:
    """Losses with one value per sample of a ``(N, C)`` (or ``(C)``) target."""
    return _rows(target)


def _triplet_count(positive: Any, negative: Any, **_: Any) -> float:
    values = _values(positive)
    return float(values.shape[0]) if values.ndim > 1 else 1.0


def _pair_count(input2: Any, target: Any, **_: Any) -> float:
    return float(_values(target).size)


def _elementwise_count(target: Any, *rest: Any, weight: Any = None, **_: Any) -> float:
    return float(_values(target).size)


#: How each loss counts the denominator of its 'mean' from the arguments after ``input``.
_COUNTS: dict[str, Callable[..., float]] = {
    "cross_entropy": _cross_entropy_count,
    "nll_loss": _cross_entropy_count,
    "ctc_loss": _ctc_count,
    "kl_div": _kl_div_count,
    "multilabel_soft_margin_loss": _per_sample_count,
    "multilabel_margin_loss": _per_sample_count,
    "triplet_margin_loss": _triplet_count,
    "triplet_margin_with_distance_loss": _triplet_count,
    "cosine_embedding_loss": _pair_count,
    "margin_ranking_loss": _pair_count,
}
#: weighted means whose denominator is Σ weight: not countable from the targets alone
_WEIGHTED_SUM_MEANS = ("l1_loss", "mse_loss")


class ExactMean:
    """A loss's ``reduction='mean'`` computed exactly over pieces of a batch (micro-batches,
    ranks): each piece contributes ``Σ loss / D``, with the mean's denominator ``D`` counted
    once over all the pieces.

    For a batch split into pieces p (on every rank), with ``S_p`` the loss summed over piece p
    and ``D_p`` its share of the denominator of the loss's 'mean' (elements; Σ w[y] over
    non-ignored targets for cross-entropy and NLL; sequences for CTC, whose per-sequence loss
    is first divided by its target length; rows for KL's 'batchmean'):

        cost = Σ_p S_p / D,   D = Σ_p D_p,   ∂cost/∂θ = Σ_p (1/D)·∂S_p/∂θ

    which is, to rounding, the loss with ``reduction='mean'`` on the whole batch and its
    gradient. ``denominator`` counts ``D`` from the targets, before any forward, with one
    all-reduce over the ranks; each call then returns ``S_p / D`` (times the world size when
    a process group is initialized, since DistributedDataParallel averages the gradients over
    the ranks: pass ``gradients_averaged=False`` when you sum them yourself).

    Args:
        loss_fn: a functional loss of ``lossgrad.nn.functional`` (its torch name decides how
            the denominator is counted), called with ``reduction='sum'`` (``'none'`` for CTC).
        group: the process group whose ranks share the batch (the default group, if one is
            initialized; else this process alone).
        gradients_averaged: the ranks' gradients are averaged (DistributedDataParallel).
        **options: the loss's keyword options (``weight``, ``ignore_index``,
            ``label_smoothing``, ``blank``, ``zero_infinity``, ...). ``reduction`` may be
            ``'batchmean'`` for ``kl_div``; otherwise leave it out.

    Example:
        Two micro-batches with different numbers of ignored targets:

        >>> import lossgrad as torch, lossgrad.nn.functional as F
        >>> from lossgrad.distributed import ExactMean
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 1.0]])
        >>> target = torch.tensor([0, 1, 1, -100])
        >>> pieces = [(logits[:2], target[:2]), (logits[2:], target[2:])]
        >>> mean = ExactMean(F.cross_entropy)
        >>> total = mean.denominator([y for _, y in pieces])
        >>> total
        3.0
        >>> cost = sum(mean(x, y, denominator=total) for x, y in pieces)
        >>> torch.allclose(cost, F.cross_entropy(logits, target))
        True
        >>> mean_of_means = sum(F.cross_entropy(x, y) for x, y in pieces) / 2
        >>> round(cost.item(), 4), round(mean_of_means.item(), 4)  # one target weighs half
        (1.1629, 1.6343)
    """

    def __init__(
        self,
        loss_fn: Callable[..., Tensor],
        *,
        group: Any = None,
        gradients_averaged: bool = True,
        **options: Any,
    ) -> None:
        self.loss_fn = loss_fn
        self.name = getattr(loss_fn, "__name__", "")
        reduction = options.pop("reduction", "mean")
        if reduction not in ("mean", "batchmean") or (
            reduction == "batchmean" and self.name != "kl_div"
        ):
            raise ValueError(
                f"ExactMean computes a loss's 'mean' (or kl_div's 'batchmean'), got "
                f"reduction={reduction!r}"
            )
        if self.name in _WEIGHTED_SUM_MEANS and options.get("weight") is not None:
            raise ValueError(
                f"{self.name} with weight divides by the sum of the weights: pass that sum "
                "(summed over the pieces) as ExactMean's denominator yourself"
            )
        self.reduction = reduction
        self.options = options
        self.group = group
        self.gradients_averaged = gradients_averaged

    def count(self, *args: Any, **kwargs: Any) -> float:
        """This piece's share ``D_p`` of the denominator, from the loss's arguments after
        ``input`` (a cross-entropy's target; CTC's targets, input_lengths, target_lengths)."""
        counter = _COUNTS.get(self.name, _elementwise_count)
        return counter(*args, **{**self.options, "reduction": self.reduction, **kwargs})

    def denominator(self, pieces: Sequence[Any]) -> float:
        """``D``: the counts of this rank's ``pieces`` (each a target, or a tuple of the
        arguments after ``input``) summed, then summed over the ranks with one all-reduce."""
        local = sum(self.count(*p) if isinstance(p, tuple) else self.count(p) for p in pieces)
        if not _core.is_initialized():
            return float(local)
        total = np.array([local], np.float64)
        pg = _core._group(self.group)
        pg._comm.Allreduce(_core._mpi().IN_PLACE, total, _core._mpi().SUM)
        return float(total[0])

    def __call__(self, input: Tensor, *args: Any, denominator: float, **kwargs: Any) -> Tensor:
        """``S_p / D`` for this piece (times the world size under averaged gradients)."""
        options = {**self.options, **kwargs}
        if self.name == "ctc_loss":
            per_sequence = self.loss_fn(input, *args, reduction="none", **options)
            lengths = _values(args[2]).astype(per_sequence._data.dtype)
            total = (per_sequence / Tensor._make(np.maximum(lengths, 1))).sum()
        else:
            total = self.loss_fn(input, *args, reduction="sum", **options)
        scale = 1.0
        if self.gradients_averaged and _core.is_initialized():
            scale = float(_core._group(self.group).size())
        return total * (scale / denominator if denominator else math.nan)
