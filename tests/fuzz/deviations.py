"""The one list of lossgrad's declared deviations from torch, as the fuzzer checks them.

Each entry names the losses it covers, the kind of disagreement it explains and a predicate
that holds only when the disagreement has exactly the declared form. A case whose only
disagreements match a declared deviation counts as a deviation, not a failure; any other
disagreement is a failure. The README's "Beyond torch" section and docs/reliability.md describe
the same list in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cases import LOSSES


@dataclass(frozen=True)
class Deviation:
    """A declared, deliberate difference from torch."""

    name: str
    losses: frozenset[str]
    # which comparison it may explain: "value", "grad" (both paths), "grad1" (plain
    # backward() only), "grad_graph" (the create_graph=True gradient only), "grad2",
    # "grad_exception"
    kind: str
    holds: Callable[[Any, np.ndarray | None, np.ndarray | None], bool]
    text: str

    @property
    def explains_only_non_finite(self) -> bool:
        """It explains the entries where torch is not finite; the finite ones must agree."""
        return self.holds is _finite_where_torch_is_not


def _finite_where_torch_is_not(
    case: Any, ours: np.ndarray | None, theirs: np.ndarray | None
) -> bool:
    """Ours is finite wherever torch is (the harness then compares the values there), and
    where torch overflowed or gave NaN, ours is finite or the same infinity or NaN."""
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return False
    ours64, theirs64 = ours.astype(np.float64), theirs.astype(np.float64)
    torch_finite = np.isfinite(theirs64)
    if np.all(torch_finite) or not np.all(np.isfinite(ours64[torch_finite])):
        return False
    ours_rest, theirs_rest = ours64[~torch_finite], theirs64[~torch_finite]
    same = (ours_rest == theirs_rest) | (np.isnan(ours_rest) & np.isnan(theirs_rest))
    return bool(np.all(np.isfinite(ours_rest) | same))


def _double_backward_where_torch_has_none(
    case: Any, ours: np.ndarray | None, theirs: np.ndarray | None
) -> bool:
    """torch cannot differentiate its first gradient (raises or returns no graph); we can."""
    return theirs is None and ours is not None


def _closer_to_float64(case: Any, ours: np.ndarray | None, theirs: np.ndarray | None) -> bool:
    """A float32 CTC gradient at least as close to torch's float64 gradient as torch's own."""
    exact = case.reference64.get("grad") if case.reference64 else None
    if ours is None or theirs is None or exact is None or ours.shape != exact.shape:
        return False
    with np.errstate(all="ignore"):
        ours_err = np.nanmax(np.abs(ours.astype(np.float64) - exact), initial=0.0)
        theirs_err = np.nanmax(np.abs(theirs.astype(np.float64) - exact), initial=0.0)
    scale = np.nanmax(np.abs(exact), initial=1.0)
    return bool(ours_err <= max(theirs_err, 1e-5 * scale))


def _empty_batch(case: Any, ours: np.ndarray | None, theirs: np.ndarray | None) -> bool:
    """An empty batch, where torch's kernel returns memory it never wrote."""
    shape = case.args[0].shape
    return len(shape) == 2 and shape[0] == 0


def _torch_rejects_a_strided_grad_input(case: Any, ours: Any, theirs: Any) -> bool:
    """torch's CPU nll_loss backward raises on a non-contiguous input (with create_graph=True,
    and for some spatial layouts without)."""
    return ours is None and "grad_input must be contiguous" in str(theirs)


def _exact_sum_is_our_infinity(
    case: Any, ours: np.ndarray | None, theirs: np.ndarray | None
) -> bool:
    """A reduced loss that torch gives as NaN and we give as +inf or -inf, where torch's own
    unreduced terms (the same call with ``reduction='none'``) hold no NaN, an infinity of our
    sign and none of the other: their exact sum is our infinity, and torch's NaN comes from the
    order of its sum (two huge finite terms overflowing to the opposite infinity first)."""
    if ours is None or theirs is None or ours.shape != () or theirs.shape != ():
        return False
    if case.kwargs.get("reduction") not in ("sum", "mean", "batchmean"):
        return False
    if not (np.isnan(theirs) and np.isinf(ours)):
        return False
    from .harness import torch_terms  # the harness imports this module

    terms = torch_terms(case)
    if terms is None:
        return False
    sign = np.sign(ours.astype(np.float64))
    return bool(
        not np.isnan(terms).any()
        and (terms == sign * np.inf).any()
        and not (terms == -sign * np.inf).any()
    )


def _exact_sum_is_our_finite_value(
    case: Any, ours: np.ndarray | None, theirs: np.ndarray | None
) -> bool:
    """A reduced loss that torch gives as an infinity and we give finite and equal, up to a
    few roundings, to the exact value: for a float16 or float32 case torch's own result in
    float64 (finite there: only torch's intermediate overflowed); for a float64 ``'sum'`` the
    exact sum (``math.fsum``) of torch's own unreduced terms, all finite. torch's infinity comes
    from the order of its sums (cross_entropy with label smoothing adds the smoothing terms
    over the classes and the batch before scaling them by ``eps / C``), not from the loss."""
    if ours is None or theirs is None or ours.shape != () or theirs.shape != ():
        return False
    reduction = case.kwargs.get("reduction", "mean")
    if reduction not in ("sum", "mean") or not (np.isinf(theirs) and np.isfinite(ours)):
        return False
    from .harness import exact_value, torch_terms  # the harness imports this module

    if np.dtype(case.dtype) != np.float64:
        exact = exact_value(case)
    elif reduction == "sum":
        terms = torch_terms(case)
        finite = terms is not None and terms.size and np.isfinite(terms).all()
        exact = math.fsum(terms.ravel().tolist()) if finite else None
    else:
        return False
    if exact is None or not math.isfinite(exact):
        return False
    return abs(float(ours) - exact) <= 4 * np.finfo(ours.dtype).eps * abs(exact)


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "soft-margin-finite",
        frozenset({"soft_margin_loss"}),
        "value",
        _finite_where_torch_is_not,
        "soft_margin_loss is log1p(exp(-y x)) computed stably: finite where torch overflows to inf.",
    ),
    Deviation(
        "soft-margin-finite-grad",
        frozenset({"soft_margin_loss"}),
        "grad",
        _finite_where_torch_is_not,
        "soft_margin_loss's gradient is finite where torch's exp overflows (inf/inf = NaN).",
    ),
    Deviation(
        "soft-margin-finite-second-grad",
        frozenset({"soft_margin_loss"}),
        "grad2",
        _finite_where_torch_is_not,
        "soft_margin_loss's second derivative sigmoid(yx) sigmoid(-yx) is finite (0) where torch's "
        "exp overflows (inf/inf = NaN).",
    ),
    Deviation(
        "gaussian-nll-finite-grad",
        frozenset({"gaussian_nll_loss"}),
        "grad1",
        _finite_where_torch_is_not,
        "gaussian_nll_loss's unreduced gradient (x - y) / var is finite where torch's "
        "composite forms 2 (x - y) first and overflows (|x - y| above half the float max); "
        "a reduced loss that overflows takes torch's composite backward.",
    ),
    Deviation(
        "gaussian-nll-finite-second-grad",
        frozenset({"gaussian_nll_loss"}),
        "grad2",
        _finite_where_torch_is_not,
        "gaussian_nll_loss's second gradient is finite where torch's composite overflows.",
    ),
    Deviation(
        "sigmoid-focal-log-space",
        frozenset({"sigmoid_focal_loss"}),
        "value",
        _finite_where_torch_is_not,
        "sigmoid_focal_loss is computed in log space: finite where torchvision's formula is NaN.",
    ),
    Deviation(
        "sigmoid-focal-log-space-grad",
        frozenset({"sigmoid_focal_loss"}),
        "grad",
        _finite_where_torch_is_not,
        "sigmoid_focal_loss's gradient is finite where torchvision's formula gives NaN.",
    ),
    Deviation(
        "sigmoid-focal-log-space-second-grad",
        frozenset({"sigmoid_focal_loss"}),
        "grad2",
        _finite_where_torch_is_not,
        "sigmoid_focal_loss's second gradient is finite where torchvision's formula gives NaN "
        "(as above).",
    ),
    Deviation(
        "focal-finite-grad",
        frozenset({"focal_loss"}),
        "grad",
        _finite_where_torch_is_not,
        "focal_loss's gradient is finite where the reference formula's (1 - exp(-ce)) ** gamma "
        "meets ce = 0 with gamma < 1 (one class, or a dominant logit): the power's derivative "
        "is inf there and the reference multiplies it by the 0 derivative of ce (NaN), where "
        "the loss (ce^(1 + gamma) near ce = 0) has a finite gradient.",
    ),
    Deviation(
        "focal-finite-second-grad",
        frozenset({"focal_loss"}),
        "grad2",
        _finite_where_torch_is_not,
        "focal_loss's second gradient is finite where the reference formula's is NaN (as above).",
    ),
    Deviation(
        "double-backward",
        frozenset({"multi_margin_loss", "multilabel_margin_loss", "ctc_loss"}),
        "grad2",
        _double_backward_where_torch_has_none,
        "multi_margin_loss, multilabel_margin_loss and ctc_loss support create_graph=True; "
        "torch's kernels have no double backward.",
    ),
    Deviation(
        "margin-empty-batch",
        frozenset({"multi_margin_loss", "multilabel_margin_loss"}),
        "value",
        _empty_batch,
        "multi_margin_loss and multilabel_margin_loss on an empty batch: torch's CPU kernels "
        "return uninitialized memory for 'mean'/'sum'; lossgrad returns 0 ('sum') and NaN ('mean').",
    ),
    Deviation(
        "nll-strided-grad-input",
        frozenset({"nll_loss", "cross_entropy", "focal_loss"}),
        "grad_exception",
        _torch_rejects_a_strided_grad_input,
        "torch raises 'grad_input must be contiguous' for the gradient of nll_loss on a "
        "non-contiguous input (with create_graph=True; without it, for some spatial layouts): "
        "a torch bug; lossgrad returns the gradient.",
    ),
    Deviation(
        "sum-order-infinity",
        frozenset(LOSSES),
        "value",
        _exact_sum_is_our_infinity,
        "A reduced loss whose terms hold an infinity and finite terms near the float max of "
        "the other sign: torch's vectorized sum may add two huge terms first (overflowing to "
        "the opposite infinity) and then give inf - inf = NaN; lossgrad's order meets the "
        "infinity first and returns it, the exact sum of the terms.",
    ),
    Deviation(
        "sum-order-overflow",
        frozenset(LOSSES),
        "value",
        _exact_sum_is_our_finite_value,
        "A reduced loss whose intermediate sum in torch's order overflows though the loss is "
        "finite: torch returns inf, lossgrad the exact sum of torch's own unreduced terms.",
    ),
    Deviation(
        "multi-margin-graph-gradient",
        frozenset({"multi_margin_loss"}),
        "grad_graph",
        _finite_where_torch_is_not,
        "With create_graph=True, multi_margin_loss's gradient is its differentiable formula "
        "(torch's kernel has none), which scales each hinge term by a reduced loss's upstream "
        "gradient before the row's sum: finite where torch's kernel, summing terms near the "
        "float max first, overflows (the plain backward() is torch's kernel, overflow "
        "included).",
    ),
    Deviation(
        "ctc-float32-gradient",
        frozenset({"ctc_loss"}),
        "grad",
        _closer_to_float64,
        "ctc_loss's float32 gradient is at least as close to the float64 value as torch's.",
    ),
)


# A deviation declared for "grad" holds on both first-order paths (the plain backward() and the
# create_graph=True gradient); one declared for "grad1" only on the plain backward(), one for
# "grad_graph" only on the create_graph=True gradient.
_KINDS = {
    "value": ("value",),
    "grad": ("grad", "grad1"),
    "grad1": ("grad1",),
    "grad_graph": ("grad",),
    "grad2": ("grad2",),
    "grad_exception": ("grad_exception",),
}


def explain(
    case: Any, kind: str, ours: np.ndarray | None, theirs: np.ndarray | None
) -> Deviation | None:
    """The declared deviation that explains this disagreement, or None."""
    for deviation in DEVIATIONS:
        if case.loss in deviation.losses and kind in _KINDS[deviation.kind]:
            if deviation.holds(case, ours, theirs):
                return deviation
    return None
