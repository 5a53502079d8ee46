"""Run one fuzz case on lossgrad and on torch and compare everything.

Compared: exception class, warnings (category and text; no NumPy warning may escape), value,
dtype, shape, NaN/+inf/-inf positions, first gradients (for a random grad_output), second
gradients (create_graph=True, a random direction), and that no input array was modified.

Tolerance model (explicit, per dtype): with ``eps`` the dtype's machine epsilon and ``r`` the
relative tolerance below, two finite values ``a`` (ours) and ``b`` (torch) agree when
``|a - b| <= r |b| + r * scale`` (plus two subnormal steps of the dtype: a value
below the normal range is rounded absolutely, not relatively). ``scale`` is the size of what was summed: for a reduced loss,
the sum of the absolute unreduced terms (divided as the reduction divides), so cancellation in a
'sum' or 'mean' is allowed exactly as much rounding as the terms carry; for a gradient, the
largest finite absolute entry of torch's gradient. float16 results are computed in float32 by
both libraries and rounded, so one float16 rounding (2**-10) dominates.

A finite entry that fails this rule passes when it lies within ``NOISE_FACTOR`` times torch's
own rounding noise of the float64 truth (`Rounding`): values that are rounding noise in both
libraries, such as the second derivatives of a one-feature cosine, which are 0 up to torch's
1e-12 epsilon but computed from terms of size 1/x^2.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

import lossgrad

from .cases import Arr, Case
from .deviations import explain

RELATIVE = {np.dtype(np.float16): 4e-3, np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}
SECOND_ORDER = {np.dtype(np.float16): 3e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-8}


def _torch_sigmoid_focal(
    x: Any, y: Any, alpha: float = 0.25, gamma: float = 2, reduction: str = "none"
) -> Any:
    """torchvision.ops.sigmoid_focal_loss, verbatim in torch ops (the reference)."""
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(
        f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: 'none', 'mean', 'sum'"
    )


def _torch_focal(
    x: Any, t: Any, gamma: float = 0.0, weight: Any = None, reduction: str = "mean"
) -> Any:
    """The tutorial's multi-class focal loss in torch ops (the reference for focal_loss)."""
    ce = torch.nn.functional.cross_entropy(x, t, weight=weight, reduction="none")
    loss = (1 - torch.exp(-ce)) ** gamma * ce
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction != "mean":
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if t.dtype.is_floating_point:
        return loss.sum() / (t.numel() // (t.shape[1] if t.dim() > 1 else t.numel()))
    keep = t != -100
    kept_weight = weight[t[keep]] if weight is not None else keep.to(x.dtype)
    return loss.sum() / kept_weight.sum()


def call(lib: Any, case: Case, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if lib is torch and case.loss == "sigmoid_focal_loss":
        return _torch_sigmoid_focal(*args, **kwargs)
    if lib is torch and case.loss == "focal_loss":
        return _torch_focal(*args, **kwargs)
    return getattr(lib.nn.functional, case.loss)(*args, **kwargs)


def _build(lib: Any, case: Case) -> tuple[list[Any], dict[str, Any], list[Any]]:
    leaves: list[Any] = []

    def make(a: Any) -> Any:
        if not isinstance(a, Arr):
            return a
        tensor = a.make(lib)
        if a.grad:
            leaves.append(tensor)
        return tensor

    return [make(a) for a in case.args], {k: make(v) for k, v in case.kwargs.items()}, leaves


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        if x._is_zerotensor():
            return np.zeros(x.shape, torch.empty((), dtype=x.dtype).numpy().dtype)
        return x.detach().numpy()
    return x.detach().numpy()


def _warnings(records: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    return sorted((w.category.__name__, str(w.message)) for w in records)


def _run(lib: Any, fn: Any) -> tuple[Any, BaseException | None, list[tuple[str, str]]]:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        try:
            return fn(), None, _warnings(records)
        except Exception as error:  # noqa: BLE001 - the class is what is compared
            return None, error, _warnings(records)


def _error_and_bound(
    ours: np.ndarray, theirs: np.ndarray, rel: float, scale: float, floor_dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``|a - b|`` and its allowed size ``r |b| + r scale`` (plus two subnormal steps of
    ``floor_dtype``: below the normal range a rounding is absolute, not relative), per entry
    (NaN where either is not finite, so the comparison is False)."""
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    kind = np.dtype(floor_dtype).kind == "f"
    floor = 2 * float(np.finfo(floor_dtype).smallest_subnormal) if kind else 0.0
    with np.errstate(all="ignore"):
        error = np.where(np.isfinite(a) & np.isfinite(b), np.abs(a - b), np.nan)
        return error, rel * np.abs(b) + rel * scale + floor


def _mismatch(ours: np.ndarray, theirs: np.ndarray, rel: float, scale: float) -> str | None:
    """None when the arrays agree under the tolerance model, else a description."""
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} != torch {theirs.shape}"
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        if not np.array_equal(test(a), test(b)):
            return f"{name} positions differ: ours {a.ravel()[:8]} torch {b.ravel()[:8]}"
    finite = np.isfinite(b)
    error, bound = _error_and_bound(a[finite], b[finite], rel, scale, theirs.dtype)
    if np.all(error <= bound):
        return None
    worst = int(np.argmax(error - bound))
    return f"value {a[finite][worst]!r} != torch {b[finite][worst]!r} (bound {bound[worst]:.3g})"


def _torch_quietly(case: Case, **overrides: Any) -> np.ndarray | None:
    """torch's output of ``case`` (its keyword arguments updated by ``overrides``) without a
    graph or warnings, as an array; None where that call raises."""
    args, kwargs, _ = _build(torch, case)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _np(call(torch, case, args, dict(kwargs, **overrides)))
    except Exception:  # noqa: BLE001
        return None


def torch_terms(case: Case) -> np.ndarray | None:
    """torch's unreduced terms of the case (the same call with ``reduction='none'``), as
    float64; None where that call raises."""
    terms = _torch_quietly(case, reduction="none")
    return None if terms is None else terms.astype(np.float64)


def exact_value(case: Case) -> float | None:
    """torch's value of the case computed in float64 (the inputs cast exactly), as a float;
    None where that call raises."""
    value = _torch_quietly(_recast(case, np.float64))
    return None if value is None else float(value)


def _subtracted_size(case: Case) -> float:
    """The size of the numbers each term of the loss subtracts, where a term near 0 is their
    cancellation and carries their rounding: cosine_embedding_loss's ``1 - cos`` and
    ``cos - margin`` (``|cos| <= 1``), where one rounding of ``cos`` (torch's float32 ``sqrt``
    is within an ulp, not correctly rounded, with its AVX-512 kernels) is ``eps`` off 0; the
    triplet losses' ``d(a, p) - d(a, n) + margin``, where each distance carries the rounding of
    its sum of powers (torch adds a row's terms in the order of its vectorized reduction, which
    depends on the row's length and the CPU's vector width; NumPy's in another): the largest
    distance; else 0."""
    if case.loss == "cosine_embedding_loss":
        return 1.0 + abs(float(case.kwargs.get("margin", 0.0)))
    if case.loss.startswith("triplet_margin"):
        anchor, positive, negative = (
            np.asarray(_np(a.make(torch)), np.float64) for a in case.args[:3]
        )
        p = float(case.kwargs.get("p", 2.0))
        eps = float(case.kwargs.get("eps", 1e-6))
        with np.errstate(all="ignore"):
            distances = [
                (np.abs(x - y + eps) ** p).sum(-1) ** (1 / p)
                for x, y in ((anchor, positive), (anchor, negative), (positive, negative))
            ]
        sizes = np.concatenate([np.ravel(d) for d in distances])
        sizes = sizes[np.isfinite(sizes)]
        return float(sizes.max(initial=0.0)) + abs(float(case.kwargs.get("margin", 1.0)))
    return 0.0


def _cosine_gradient_terms(case: Case, grad_output: np.ndarray) -> list[float]:
    """cosine_embedding_loss: the size of the two terms each input's gradient subtracts,
    ``g x_other / sqrt(m1 m2)`` and ``g cos x_own / m_own`` (``m = |x|^2 + 1e-12``), for each
    differentiated input in the order of the leaves (empty for other losses). One rounding of
    ``sqrt(m1 m2)`` moves each by about an ulp of that size (torch's float32 ``sqrt`` is within
    an ulp, not correctly rounded, with its AVX-512 kernels), so where they cancel (one
    feature: ``cos = +-1``) the gradient is rounding noise of that size, as the value's
    ``1 - cos`` is (`_subtracted_size`)."""
    if case.loss != "cosine_embedding_loss":
        return []
    x1, x2 = (np.asarray(_np(a.make(torch)), np.float64) for a in case.args[:2])
    with np.errstate(all="ignore"):
        m1, m2 = ((x * x).sum(-1, keepdims=True) + 1e-12 for x in (x1, x2))
        denom = np.sqrt(m1 * m2)
        cos = (x1 * x2).sum(-1, keepdims=True) / denom
        scale = float(np.abs(grad_output.astype(np.float64)).max(initial=0.0))
        if case.kwargs.get("reduction", "mean") == "mean":  # over the rows
            scale /= max(math.prod(np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])), 1)
        sizes = []
        for own, other, m, arg in ((x1, x2, m1, case.args[0]), (x2, x1, m2, case.args[1])):
            if arg.grad:
                terms = np.concatenate([np.abs(other / denom).ravel(), np.abs(cos * own / m).ravel()])
                terms = terms[np.isfinite(terms)]
                sizes.append(scale * float(terms.max(initial=0.0)))
        return sizes


def _cosine_second_gradient_terms(
    case: Case, grad_output: np.ndarray | None, directions: list[np.ndarray] | None
) -> float:
    """cosine_embedding_loss: the size of the terms a second gradient adds up. Differentiating a
    first gradient's terms (`_cosine_gradient_terms`) by either input divides them by that
    input's norm, and the directions multiply them; with one feature (``cos = +-1``) they
    cancel, and the second gradient is their rounding noise. 0 for other losses."""
    if case.loss != "cosine_embedding_loss" or grad_output is None or not directions:
        return 0.0
    first = _cosine_gradient_terms(case, grad_output)
    x1, x2 = (np.asarray(_np(a.make(torch)), np.float64) for a in case.args[:2])
    with np.errstate(all="ignore"):
        norms = np.concatenate([np.sqrt((x * x).sum(-1)).ravel() for x in (x1, x2)])
        norms = norms[np.isfinite(norms) & (norms > 0)]
        if not first or not norms.size:
            return 0.0
        size = max(first) * max(float(np.abs(d).max(initial=0.0)) for d in directions)
        return size / float(norms.min())


def _term_scale(case: Case, th_out: Any) -> float:
    """Size of the summed terms of a reduced loss, as the reduction divides them (see module);
    each term at least `_subtracted_size`."""
    reduction = case.kwargs.get(
        "reduction", "none" if case.loss == "sigmoid_focal_loss" else "mean"
    )
    floor = _subtracted_size(case)
    if reduction == "none":
        return floor * 4
    terms = torch_terms(case)
    if terms is None:
        return floor * 4
    terms = np.maximum(np.abs(terms[np.isfinite(terms)]), floor)
    with np.errstate(over="ignore"):  # finite terms near the float max
        total = float(terms.sum()) if terms.size else 0.0
    if reduction == "mean" and terms.size:
        total /= terms.size
    if reduction == "batchmean" and case.args[0].shape:
        total /= max(case.args[0].shape[0], 1)
    return total * 4  # a few roundings per term


NOISE_FACTOR = 4  # ours may round this many times worse than torch's own algorithm
PERTURBATIONS = 8  # copies of the inputs one rounding away, to measure torch's noise
SPREAD_CAP = 4  # float64: a spread counts as noise up to this many times the float32 measure


def _recast(case: Case, dtype: Any, rng: np.random.Generator | None = None) -> Case:
    """The case with its float arrays cast to ``dtype``; with ``rng``, each differentiated
    array is then moved by one rounding of ``dtype`` (times 1 +- eps, element by element)."""

    def convert(a: Any) -> Any:
        if not isinstance(a, Arr) or a.base.dtype.kind != "f":
            return a
        base = _cast_array(a.base, dtype)
        if rng is not None and a.grad:
            step = np.finfo(dtype).eps * rng.choice([-1.0, 1.0], base.shape)
            base = _cast_array(base.astype(np.float64) * (1 + step), dtype)
        return Arr(base, a.view, a.grad)

    args = [convert(a) for a in case.args]
    return Case(case.loss, args, {k: convert(v) for k, v in case.kwargs.items()}, dtype)


def _cast_array(values: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return values.astype(dtype)


class Rounding:
    """torch's own rounding noise on one case, measured against float64.

    ``truth[what]`` is torch's result in float64 at the case's inputs (for a float64 case,
    torch's own result). ``noise[what]`` is the largest ``|R - T|`` over the array, over the
    case's inputs and ``PERTURBATIONS`` copies with each differentiated input moved by one
    rounding, where ``R`` is torch in the working precision (float32 for a float64 case) and
    ``T`` torch in float64 at the same inputs. For a float64 case the float32 noise is scaled
    by ``eps64 / eps32``: an algorithm's rounding error is a constant times the unit roundoff
    times the size of the terms it combines (Higham, *Accuracy and Stability of Numerical
    Algorithms*, ch. 2-3), so the float32 run measures the constant. The moved copies keep one
    lucky exact cancellation from passing for an absence of noise. A float64 case also takes
    the spread of torch's float64 results over copies moved by one float64 rounding, that of
    a gradient capped by the float32 measure where there is one (`_spread`). Computed only
    when a comparison fails, once per case."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.grad_output: np.ndarray | None = None
        self.directions: list[np.ndarray] | None = None
        self.pairs: list[int] = []
        self._measured: dict[tuple[bool, bool], tuple[dict[str, np.ndarray], dict[str, float]]]
        self._measured = {}

    def _stages(self, case: Case, seeds: Any) -> dict[str, np.ndarray]:
        """torch's value, gradients and second gradients of ``case`` (named as in the
        comparisons), with ``grad_output`` and the directions rounded to ``seeds`` first."""
        out: dict[str, np.ndarray] = {}
        args, kwargs, leaves = _build(torch, case)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = call(torch, case, args, kwargs)
                out["value"] = _np(value)
                if self.grad_output is None or not leaves:
                    return out
                go = torch.tensor(self.grad_output.astype(seeds)).to(value.dtype)
                grads = torch.autograd.grad(value, leaves, go, create_graph=True, allow_unused=True)
                for k, g in enumerate(grads):
                    if g is not None:
                        out[f"grad {k}"] = _np(g)
                if self.directions is None:
                    return out
                total = sum(
                    (grads[k] * torch.tensor(d.astype(seeds)).to(grads[k].dtype)).sum()
                    for k, d in zip(self.pairs, self.directions)
                )
                for k, g in enumerate(torch.autograd.grad(total, leaves, allow_unused=True)):
                    if g is not None:
                        out[f"second grad {k}"] = _np(g)
        except Exception:  # noqa: BLE001 - what torch cannot compute is not measured
            pass
        return out

    def measure(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """``(truth, noise)`` of every stage known so far (see the class)."""
        known = (self.grad_output is not None, self.directions is not None)
        if known not in self._measured:
            dtype = np.dtype(self.case.dtype)
            working = np.dtype(np.float32) if dtype == np.float64 else dtype
            ratio = float(np.finfo(dtype).eps / np.finfo(working).eps)
            truth = self._stages(_recast(self.case, np.float64), dtype)
            noise: dict[str, float] = {}
            measured: dict[str, np.ndarray] = {}  # the entries finite in both runs, per stage
            rng = np.random.default_rng(0)
            for k in range(PERTURBATIONS + 1):
                moved = _recast(self.case, working, rng if k else None)
                low = self._stages(moved, working)
                high = self._stages(_recast(moved, np.float64), working)
                for what, r in low.items():
                    t = high.get(what)
                    if t is None or t.shape != r.shape:
                        continue
                    r64 = r.astype(np.float64)
                    both = np.isfinite(r64) & np.isfinite(t)
                    gap = float(np.abs(r64[both] - t[both]).max(initial=0.0)) * ratio
                    noise[what] = max(noise.get(what, 0.0), gap)
                    measured[what] = measured.get(what, np.zeros(both.shape, bool)) | both
            if dtype == np.float64:
                self._spread(truth, noise, measured, rng)
            self._measured[known] = truth, noise
        return self._measured[known]

    def _spread(
        self,
        truth: dict[str, np.ndarray],
        noise: dict[str, float],
        measured: dict[str, np.ndarray],
        rng: np.random.Generator,
    ) -> None:
        """Add the spread of torch's float64 results when each differentiated input moves by
        one float64 rounding: what changes when the inputs move by one rounding is rounding
        noise, except at a kink, where a move of one rounding changes a subgradient. It counts
        in full at the entries the float32 run could not measure (not finite in both runs:
        their squares overflow at inputs beyond about 1e19), and at a measured one up to
        ``SPREAD_CAP`` times the float32 run's measure: eight moved copies in float32 measure
        the constant of torch's error only to within a small factor (and a term below float32's
        resolution, such as torch's 1e-12 epsilon against ``x^2``, changes where the float64
        run rounds). At a kink the float32 run measures no noise (both precisions pick the
        same side at the same inputs), so the cap is 0 and a wrong subgradient still fails.
        The value is not capped: a kink changes a gradient, not the loss, so the value's spread
        is rounding noise in full, also where the float32 run cannot resolve it (two float64
        terms of 1e8 that cancel round to one float32 value, so the float32 run sees no
        cancellation; the float64 run loses a rounding of 1e8 to it)."""
        cap = {what: SPREAD_CAP * noise.get(what, 0.0) for what in measured if what != "value"}
        for _ in range(PERTURBATIONS):
            moved = self._stages(_recast(self.case, np.float64, rng), np.float64)
            for what, r in moved.items():
                t = truth.get(what)
                if t is None or t.shape != r.shape:
                    continue
                both = np.isfinite(r) & np.isfinite(t)
                gap = np.zeros(r.shape)
                gap[both] = np.abs(r[both] - t[both])
                if what in cap and measured[what].shape == gap.shape:
                    gap[measured[what]] = np.minimum(gap[measured[what]], cap[what])
                noise[what] = max(noise.get(what, 0.0), float(gap.max(initial=0.0)))

    def explains(
        self, what: str, ours: np.ndarray, theirs: np.ndarray, rel: float, scale: float
    ) -> bool:
        """Every finite entry of ``ours`` (NaN and infinities already where torch's are) agrees
        with torch's, or is within ``NOISE_FACTOR`` times torch's own noise of the float64
        truth."""
        truth, noise = self.measure()
        what = what.removeprefix("backward() ")  # the same gradient, by another path
        exact = truth.get(what)
        if exact is None or exact.shape != ours.shape or what not in noise:
            return False
        finite = np.isfinite(theirs.astype(np.float64))
        error, bound = _error_and_bound(ours, theirs, rel, scale, theirs.dtype)
        slack = scale + NOISE_FACTOR * noise[what] / rel
        to_truth, truth_bound = _error_and_bound(ours, exact, rel, slack, theirs.dtype)
        return bool(np.all(((error <= bound) | (to_truth <= truth_bound))[finite]))

    def overflows_where_torch_is_nan(
        self, what: str, ours: np.ndarray, theirs: np.ndarray, rel: float, scale: float
    ) -> bool:
        """Where torch's entry is NaN and ours an infinity, ours is the float64 truth rounded to
        the dtype (the truth overflows it: torch met ``inf - inf`` on the way, as float16
        second derivatives of terms like ``x^2`` do), and every other entry agrees with
        torch's."""
        truth, _ = self.measure()
        exact = truth.get(what.removeprefix("backward() "))
        if exact is None or exact.shape != ours.shape or ours.dtype.kind != "f":
            return False
        a, b = ours.astype(np.float64), theirs.astype(np.float64)
        overflowed = np.isnan(b) & np.isinf(a)
        if not overflowed.any():
            return False
        with np.errstate(over="ignore"):
            rounded = exact[overflowed].astype(ours.dtype).astype(np.float64)
        rest = ~overflowed
        return bool(np.all(rounded == a[overflowed])) and (
            _mismatch(ours[rest], theirs[rest], rel, scale) is None
        )


class Result:
    """What one case gave: 'ok', 'deviation:<name>' or 'failure: <what>'."""

    def __init__(self, rounding: Rounding) -> None:
        self.failures: list[str] = []
        self.deviations: list[str] = []
        self.rounding = rounding

    def compare(
        self,
        case: Case,
        kind: str,
        ours: np.ndarray | None,
        theirs: np.ndarray | None,
        rel: float,
        scale: float,
        what: str,
    ) -> None:
        if ours is not None and theirs is not None:
            problem = _mismatch(ours, theirs, rel, scale)
        else:
            problem = (
                None
                if ours is None and theirs is None
                else f"ours {ours is not None}, torch {theirs is not None}"
            )
        if problem is None:
            return
        deviation = explain(case, kind, ours, theirs)
        if deviation and deviation.explains_only_non_finite:
            finite = np.isfinite(theirs.astype(np.float64))
            if _mismatch(ours[finite], theirs[finite], rel, scale) is not None:
                deviation = None
        if deviation:
            self.deviations.append(deviation.name)
        elif (
            "positions differ" in problem
            and ours is not None
            and theirs is not None
            and self.rounding.overflows_where_torch_is_nan(what, ours, theirs, rel, scale)
        ):
            self.deviations.append("overflow-where-torch-is-nan")
        elif not (
            problem.startswith("value")
            and ours is not None
            and theirs is not None
            and self.rounding.explains(what, ours, theirs, rel, scale)
        ):
            self.failures.append(f"{what}: {problem}")


def _gradient_scale(gradient: np.ndarray, grad_output: np.ndarray | None) -> float:
    """Largest finite |entry| of torch's gradient, at least one rounding of grad_output (a
    gradient that is exactly 0 in exact arithmetic comes out as rounding noise of that size)."""
    finite = np.abs(gradient[np.isfinite(gradient)].astype(np.float64))
    scale = float(finite.max()) if finite.size else 0.0
    if grad_output is not None and grad_output.size:
        scale = max(
            scale,
            float(
                np.finfo(grad_output.dtype).eps
                * np.abs(grad_output).max()
                / RELATIVE.get(np.dtype(grad_output.dtype), 1.0)
            ),
        )
    return scale


def _grad(
    lib: Any, out: Any, leaves: list[Any], grad_output: np.ndarray, create_graph: bool
) -> Any:
    return lib.autograd.grad(
        out, leaves, lib.tensor(grad_output), create_graph=create_graph, allow_unused=True
    )


def check_case(case: Case) -> Result:
    """Compare lossgrad with torch on one case."""
    result = Result(Rounding(case))
    originals = [
        a.base.copy() for a in list(case.args) + list(case.kwargs.values()) if isinstance(a, Arr)
    ]
    th_args, th_kwargs, th_leaves = _build(torch, case)
    lg_args, lg_kwargs, lg_leaves = _build(lossgrad, case)
    th_out, th_err, th_warn = _run(torch, lambda: call(torch, case, th_args, th_kwargs))
    lg_out, lg_err, lg_warn = _run(lossgrad, lambda: call(lossgrad, case, lg_args, lg_kwargs))
    after = [a.base for a in list(case.args) + list(case.kwargs.values()) if isinstance(a, Arr)]
    for before, now in zip(originals, after):
        if not np.array_equal(before, now, equal_nan=True):
            result.failures.append("an input array was modified")
    if th_err is not None or lg_err is not None:
        if th_err is None or lg_err is None or type(th_err).__name__ != type(lg_err).__name__:
            result.failures.append(f"exception: ours {lg_err!r}, torch {th_err!r}")
        return result
    if any(category == "RuntimeWarning" for category, _ in lg_warn) or lg_warn != th_warn:
        result.failures.append(f"warnings: ours {lg_warn}, torch {th_warn}")
    if str(lg_out.dtype).replace("lossgrad.", "torch.") != str(th_out.dtype):
        result.failures.append(f"dtype {lg_out.dtype} != torch {th_out.dtype}")
        return result
    ours, theirs = _np(lg_out), _np(th_out)
    dtype = np.dtype(theirs.dtype)
    result.compare(
        case, "value", ours, theirs, RELATIVE.get(dtype, 0.0), _term_scale(case, th_out), "value"
    )
    if not th_leaves or not th_out.requires_grad or result.failures:
        return result
    rng = np.random.default_rng(len(theirs.shape) + theirs.size)
    grad_output = rng.standard_normal(theirs.shape).astype(dtype)
    result.rounding.grad_output = grad_output
    _first_order(case, result, grad_output)
    if result.failures:
        return result
    th_run = _run(torch, lambda: _grad(torch, th_out, th_leaves, grad_output, True))
    lg_run = _run(lossgrad, lambda: _grad(lossgrad, lg_out, lg_leaves, grad_output, True))
    lg_g, th_g = lg_run[0], th_run[0]
    if not _compare_first_gradients(case, result, "grad", lg_run, th_run, grad_output):
        return result
    if result.failures:
        return result
    _second_order(case, result, lg_g, th_g, lg_leaves, th_leaves, rng)
    return result


def _backward(lib: Any, case: Case, grad_output: np.ndarray) -> list[Any]:
    """The plain path users take: a fresh forward, then ``loss.backward(grad_output)`` without
    ``create_graph`` or ``retain_graph``; the leaves' ``.grad``."""
    args, kwargs, leaves = _build(lib, case)
    call(lib, case, args, kwargs).backward(lib.tensor(grad_output))
    return [leaf.grad for leaf in leaves]


def _first_order(case: Case, result: Result, grad_output: np.ndarray) -> None:
    """Compare the first gradients of the plain ``backward()`` (no graph recorded), which
    lossgrad computes on its own fast path, with torch's."""
    th_run = _run(torch, lambda: _backward(torch, case, grad_output))
    lg_run = _run(lossgrad, lambda: _backward(lossgrad, case, grad_output))
    _compare_first_gradients(case, result, "grad1", lg_run, th_run, grad_output)


def _compare_first_gradients(
    case: Case, result: Result, kind: str, ours: tuple, theirs: tuple, grad_output: np.ndarray
) -> bool:
    """Compare the first gradients of one path (``kind``: "grad" with create_graph, "grad1" the
    plain ``backward()``), each ``(gradients, exception, warnings)`` as ``_run`` gives them;
    False when either side raised (nothing more to compare on this path)."""
    (lg_g, lg_err, lg_warn), (th_g, th_err, _) = ours, theirs
    path = "first gradient" if kind == "grad" else "backward()"
    if th_err is not None or lg_err is not None:
        if th_err is None or lg_err is None or type(th_err) is not type(lg_err):
            deviation = explain(case, "grad_exception", lg_err, th_err)
            if deviation:
                result.deviations.append(deviation.name)
            else:
                result.failures.append(f"{path} exception: ours {lg_err!r}, torch {th_err!r}")
        return False
    if any(category == "RuntimeWarning" for category, _ in lg_warn):
        result.failures.append(f"{path} warnings: {lg_warn}")
    label = "grad" if kind == "grad" else "backward() grad"
    cancelled = _cosine_gradient_terms(case, grad_output)
    for k, (ours_k, theirs_k) in enumerate(zip(lg_g, th_g)):
        if theirs_k is None:
            if ours_k is not None and np.any(_np(ours_k)):
                result.failures.append(f"{label} {k}: torch has none, ours is nonzero")
            continue
        t = _np(theirs_k)
        rel = RELATIVE.get(np.dtype(t.dtype), 0.0) * 4
        scale = _gradient_scale(t, grad_output)
        if k < len(cancelled):  # as the value's floor: a few roundings of the terms' size
            scale = max(scale, cancelled[k] * np.finfo(t.dtype).eps / rel * 4)
        result.compare(
            case, kind, None if ours_k is None else _np(ours_k), t, rel, scale, f"{label} {k}"
        )
    return True


def _second_order(
    case: Case,
    result: Result,
    lg_g: Any,
    th_g: Any,
    lg_leaves: list[Any],
    th_leaves: list[Any],
    rng: np.random.Generator,
) -> None:
    kept = [
        k
        for k, (ours, theirs) in enumerate(zip(lg_g, th_g))
        if theirs is not None and ours is not None
    ]
    pairs = [(lg_g[k], th_g[k]) for k in kept]
    if not pairs:
        return
    directions = [
        rng.standard_normal(tuple(theirs.shape)).astype(_np(theirs).dtype) for _, theirs in pairs
    ]
    result.rounding.pairs, result.rounding.directions = kept, directions
    torch_differentiable = all(theirs.requires_grad for _, theirs in pairs)

    def th_second() -> Any:
        total = sum((theirs * torch.tensor(d)).sum() for (_, theirs), d in zip(pairs, directions))
        return torch.autograd.grad(total, th_leaves, allow_unused=True)

    def lg_second() -> Any:
        total = sum((ours * lossgrad.tensor(d)).sum() for (ours, _), d in zip(pairs, directions))
        return lossgrad.autograd.grad(total, lg_leaves, allow_unused=True)

    th_gg, th_err, _ = (
        _run(torch, th_second) if torch_differentiable else (None, RuntimeError(), [])
    )
    lg_gg, lg_err, lg_warn = _run(lossgrad, lg_second)
    if any(category == "RuntimeWarning" for category, _ in lg_warn):
        result.failures.append(f"second gradient warnings: {lg_warn}")
    if th_err is not None:
        if lg_err is None:
            for ours in lg_gg:
                result.compare(
                    case, "grad2", _np(ours), None, 0.0, 0.0, "second gradient (torch has none)"
                )
        return
    if lg_err is not None:
        result.failures.append(f"second gradient exception: ours {lg_err!r}")
        return
    for k, (ours_k, theirs_k) in enumerate(zip(lg_gg, th_gg)):
        if theirs_k is None:
            if ours_k is not None and np.any(_np(ours_k)):
                result.failures.append(f"second grad {k}: torch has none, ours is nonzero")
            continue
        if ours_k is None:
            ours_k = torch.zeros_like(theirs_k)
        t = _np(theirs_k)
        rel = SECOND_ORDER.get(np.dtype(t.dtype), 0.0)
        cancelled = _cosine_second_gradient_terms(case, result.rounding.grad_output, directions)
        noise = cancelled * float(np.finfo(t.dtype).eps) / rel * 4 if cancelled and rel else 0.0
        scale = max(
            [_gradient_scale(t, None), noise]
            + [_gradient_scale(_np(g), None) for g in th_g if g is not None]
        )
        result.compare(case, "grad2", _np(ours_k), t, rel, scale, f"second grad {k}")
