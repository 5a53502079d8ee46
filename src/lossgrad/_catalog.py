"""The catalog of losses behind ``lossgrad list/explain/plot/tour``, ``lossgrad.plot`` and the docs.

One ``Loss`` entry per loss holds what a reader needs beside the code: a one-line summary, the
unreduced formula and its gradient (in LaTeX, written once: the terminal's plain text is rendered
from it by ``lossgrad._tex``), the Shape line, references, torch's edge policies, a runnable
example, and a *curve*: how to evaluate the loss along one sensible axis (the residual for
regression, the logit or the margin for classification). Nothing numeric is stored here:
parameters and defaults are read from the real functions with ``inspect``, examples are
executed, and curves are computed by calling the loss (the gradient by ``backward()``), with
``lib`` being ``lossgrad`` or, for comparison, ``torch``.

A loss that this build of lossgrad does not define yet stays in the catalog;
``Loss.available()`` says so and the callers report it instead of failing. A loss that torch
exposes only as a module (``nn.AdaptiveLogSoftmaxWithLoss``) has no functional: its entry's
``functional`` is None, and its options are read from the module's constructor.

This module is imported by the command line, the plots and the docs only, never by
``import lossgrad``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from lossgrad._tex import tex_to_text

#: Families, in the order of the docs; each is the source file of its losses.
FAMILIES: dict[str, str] = {
    "regression": "Regression losses",
    "probability": "Probabilistic losses",
    "classification": "Classification losses",
    "margin": "Margin and embedding losses",
    "ctc": "Sequence losses (CTC)",
}

#: Parameters never offered to ``--set``: legacy flags, the reduction (curves are elementwise),
#: tensors, callables and indices that would change what the curve means, and a module's
#: factory arguments.
_NOT_TUNABLE = frozenset(
    {
        "device",
        "dtype",
        "size_average",
        "reduce",
        "reduction",
        "weight",
        "pos_weight",
        "distance_function",
        "blank",
        "ignore_index",
    }
)

CurveFn = Callable[[ModuleType, Any, Mapping[str, Any], Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Curve:
    """How to draw a loss along one axis.

    ``fn(lib, z, params, settings)`` returns the unreduced loss at each point of the 1-D float64
    tensor ``z``; ``params`` are keyword arguments of the loss (``beta``, ``margin``, ...) and
    ``settings`` the plot-only knobs listed in ``settings`` (a fixed target, a variance, ...).
    ``xlabel`` is formatted with the settings (``"logit x (target y = {target:g})"``); curves
    with the same formatted ``xlabel`` share a panel. ``params`` are the options the picture
    uses where they differ from the loss's defaults (focal loss is drawn at ``gamma=2``), and
    ``note`` says why.
    """

    axis: str
    xlabel: str
    lim: tuple[float, float]
    fn: CurveFn
    settings: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Loss:
    """One loss: its names, its math, its torch policies, an example and a curve.

    ``key`` is the short name (``smooth_l1``); ``functional`` and ``module`` are lossgrad's
    names, which are torch's: ``module`` is None for a loss that is only a function, and
    ``functional`` None for a loss that torch exposes only as a module. ``tex`` and
    ``tex_gradient`` are the unreduced loss and its gradient in LaTeX, the one place they are
    written: ``formula`` and ``gradient``, the same as one line of plain text for the terminal,
    are rendered from them (an entry may still pass its own). ``shape`` is the Shape line (as on
    torch's pages) and ``references`` the papers or standard sources. ``example`` is a torch
    program body that defines ``output`` (run with ``import lossgrad as torch``, or with torch
    itself). For a lossgrad extension, ``torch_example`` computes the same loss with torch's own
    functions and ``torch_note`` names where that formula comes from.
    """

    key: str
    functional: str | None
    module: str | None
    family: str
    summary: str
    tex: str
    tex_gradient: str
    in_torch: bool
    notes: tuple[str, ...]
    example: str
    curve: Curve
    tour: bool = False
    aliases: tuple[str, ...] = ()
    torch_example: str | None = None
    torch_note: str = ""
    formula: str = ""
    gradient: str = ""
    shape: str = ""
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.functional is None and self.module is None:
            raise ValueError(f"{self.key}: a loss needs a functional, a module or both")
        if not self.formula:
            object.__setattr__(self, "formula", tex_to_text(self.tex))
        if not self.gradient:
            object.__setattr__(self, "gradient", tex_to_text(self.tex_gradient))

    # -- names -------------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        """The module's name, or the functional's where there is no module."""
        return self.module or f"F.{self.functional}"

    @property
    def torch_name(self) -> str:
        """``torch.nn.L1Loss``, or 'lossgrad extension' for a loss torch does not have."""
        if not self.in_torch:
            return "lossgrad extension"
        return (
            f"torch.nn.{self.module}" if self.module else f"torch.nn.functional.{self.functional}"
        )

    def names(self) -> tuple[str, ...]:
        own = (self.key, self.functional, self.module)
        return tuple(name for name in own if name is not None) + self.aliases

    def lossgrad_names(
        self, nn: str = "lossgrad.nn", functional: str = "lossgrad.nn.functional"
    ) -> list[str]:
        """The module's and the functional's names, those the loss has, under these prefixes:
        ``lossgrad.nn.L1Loss``, ``lossgrad.nn.functional.l1_loss``; ``nn.L1Loss``,
        ``F.l1_loss`` with ``("nn", "F")``."""
        names = [f"{nn}.{self.module}"] if self.module else []
        if self.functional is not None:
            names.append(f"{functional}.{self.functional}")
        return names

    # -- the real objects --------------------------------------------------------------------------

    def function(self, lib: ModuleType | None = None) -> Callable[..., Any] | None:
        """The functional in ``lib`` (lossgrad by default), or None when it does not exist (or
        the loss has none)."""
        if self.functional is None:
            return None
        return getattr(_lib(lib).nn.functional, self.functional, None)

    def module_class(self, lib: ModuleType | None = None) -> type | None:
        return getattr(_lib(lib).nn, self.module, None) if self.module else None

    def missing(self, lib: ModuleType | None = None) -> list[str]:
        """Those of :meth:`lossgrad_names` that ``lib`` (lossgrad by default) does not define,
        named as in lossgrad."""
        absent = []
        if self.module is not None and self.module_class(lib) is None:
            absent.append(f"lossgrad.nn.{self.module}")
        if self.functional is not None and self.function(lib) is None:
            absent.append(f"lossgrad.nn.functional.{self.functional}")
        return absent

    def available(self, lib: ModuleType | None = None) -> bool:
        return not self.missing(lib)

    def defining_module(self) -> str | None:
        """The Python module where lossgrad defines the functional (else the module class), or
        None when neither is in this build."""
        defined = self.function() or self.module_class()
        return defined.__module__ if defined is not None else None

    def signatures(self, one_per_line: bool = False) -> list[str]:
        """``nn.X(...)`` and ``F.x(...)`` with the defaults of this build (missing ones skipped),
        with one parameter per line if ``one_per_line``."""
        out = []
        cls, fn = self.module_class(), self.function()
        if cls is not None:
            out.append(f"nn.{self.module}{_format_signature(inspect.signature(cls), one_per_line)}")
        if fn is not None:
            out.append(
                f"F.{self.functional}{_format_signature(inspect.signature(fn), one_per_line)}"
            )
        return out

    def parameters(self) -> dict[str, Any]:
        """Options with their defaults: the module's constructor, else the functional's."""
        target = self.module_class() or self.function()
        if target is None:
            return {}
        return {
            p.name: p.default
            for p in inspect.signature(target).parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    def tunable(self) -> dict[str, Any]:
        """What ``--set`` may change: the functional's scalar options (for a loss without one,
        the module constructor's), then the curve's settings."""
        options = self.function() if self.functional is not None else self.module_class()
        out: dict[str, Any] = {}
        if options is not None:
            for p in inspect.signature(options).parameters.values():
                if p.name in _NOT_TUNABLE or p.default is inspect.Parameter.empty:
                    continue
                if isinstance(p.default, (bool, int, float)) or p.default is None:
                    out[p.name] = p.default
        out.update(self.curve.settings)
        return out

    def program(self, lib_name: str = "lossgrad", code: str | None = None) -> str:
        """The example as a complete program for ``lib_name`` ('lossgrad' or 'torch')."""
        code = self.example if code is None else code
        header = [
            f"import {lib_name} as torch" if lib_name != "torch" else "import torch",
            f"import {lib_name}.nn as nn",
        ]
        if "F." in code:
            header.append(f"import {lib_name}.nn.functional as F")
        return "\n".join(header) + "\n\n" + code.strip() + "\n"


def _lib(lib: ModuleType | None) -> ModuleType:
    if lib is None:
        import lossgrad

        return lossgrad
    return lib


def _format_signature(sig: inspect.Signature, one_per_line: bool = False) -> str:
    parts: list[str] = []
    star_done = False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            star_done = True
            parts.append(f"*{p.name}")
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.default is inspect.Parameter.empty:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={p.default!r}")
    if one_per_line and len(parts) > 1:
        return "(\n" + "".join(f"    {part},\n" for part in parts) + ")"
    return "(" + ", ".join(parts) + ")"


# -- running an example ----------------------------------------------------------------------------


@dataclass
class ExampleRun:
    """The outcome of one example: the loss, and the gradient of every leaf that asked for one."""

    output: Any
    grads: dict[str, np.ndarray]
    grad_fn: str | None


def run_example(entry: Loss, lib_name: str = "lossgrad") -> ExampleRun:
    """Execute the entry's example with ``lib_name`` and collect the result.

    For a lossgrad extension run under torch, the entry's ``torch_example`` (the same
    computation spelled with torch's own functions) is used. Exceptions propagate.
    """
    code = entry.torch_example if lib_name == "torch" and entry.torch_example else entry.example
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(entry.program(lib_name, code), f"<{entry.key} example>", "exec"), namespace)
    output, tensor_type = namespace["output"], namespace["torch"].Tensor
    grads = {
        name: value.grad.detach().numpy().copy()
        for name, value in namespace.items()
        if isinstance(value, tensor_type) and value.is_leaf and value.grad is not None
    }
    grad_fn = output.grad_fn.name() if output.grad_fn is not None else None
    return ExampleRun(output, grads, grad_fn)


# -- curves ----------------------------------------------------------------------------------------


@dataclass
class CurveData:
    x: np.ndarray
    loss: np.ndarray
    grad: np.ndarray


def curve_data(
    entry: Loss,
    lib: ModuleType | None = None,
    params: Mapping[str, Any] | None = None,
    lim: tuple[float, float] | None = None,
    points: int = 401,
) -> CurveData:
    """Evaluate the loss and its gradient along the entry's axis with ``lib`` (lossgrad by default).

    ``params`` mixes loss options and curve settings (see :meth:`Loss.tunable`); unknown names
    raise ``KeyError``. The gradient is ``d loss / d x`` from ``backward()`` on the summed curve.
    """
    lib = _lib(lib)
    params = dict(params or {})
    unknown = sorted(set(params) - set(entry.tunable()))
    if unknown:
        raise KeyError(
            f"{entry.key} has no option {unknown[0]!r} (options: {', '.join(entry.tunable())})"
        )
    settings = {k: params.pop(k, v) for k, v in entry.curve.settings.items()}
    lo, hi = lim if lim is not None else entry.curve.lim
    z = lib.tensor(np.linspace(lo, hi, points), dtype=lib.float64, requires_grad=True)
    loss = entry.curve.fn(lib, z, params, settings)
    loss.sum().backward()
    return CurveData(
        z.detach().numpy().copy(), loss.detach().numpy().copy(), z.grad.detach().numpy().copy()
    )


def _zeros(lib: ModuleType, z: Any) -> Any:
    return lib.zeros_like(z)


def _full(lib: ModuleType, z: Any, value: float) -> Any:
    return lib.full_like(z, value)


def _two_class(lib: ModuleType, z: Any) -> Any:
    """Logits ``[z, 0]`` per point: the target class 0 wins by a margin ``z``."""
    return lib.stack([z, lib.zeros_like(z)], dim=1)


def _class0(lib: ModuleType, z: Any) -> Any:
    return lib.zeros(z.shape[0], dtype=lib.long)


def _residual(fn: str) -> CurveFn:
    return lambda lib, z, p, s: getattr(lib.nn.functional, fn)(
        z, _zeros(lib, z), reduction="none", **p
    )


def _logit(fn: str) -> CurveFn:
    return lambda lib, z, p, s: getattr(lib.nn.functional, fn)(
        z, _full(lib, z, s["target"]), reduction="none", **p
    )


def _softmax_class(fn: str) -> CurveFn:
    return lambda lib, z, p, s: getattr(lib.nn.functional, fn)(
        _two_class(lib, z), _class0(lib, z), reduction="none", **p
    )


def _kl_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    log_q = _two_class(lib, z).log_softmax(dim=1)
    target = lib.tensor(np.array([[s["target"], 1.0 - s["target"]]])).expand(z.shape[0], 2)
    if p.get("log_target"):
        target = target.log()
    return lib.nn.functional.kl_div(log_q, target, reduction="none", **p).sum(dim=1)


def _poisson_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    rate = z if p.get("log_input", True) else z.exp()
    return lib.nn.functional.poisson_nll_loss(
        rate, _full(lib, z, s["target"]), reduction="none", **p
    )


def _gaussian_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    return lib.nn.functional.gaussian_nll_loss(
        z, _zeros(lib, z), _full(lib, z, s["var"]), reduction="none", **p
    )


def _nll_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    log_probs = lib.stack([z, (1.0 - z.exp()).clamp_min(1e-12).log()], dim=1)
    return lib.nn.functional.nll_loss(log_probs, _class0(lib, z), reduction="none", **p)


def _multilabel_soft_curve(
    lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    return lib.nn.functional.multilabel_soft_margin_loss(
        z.unsqueeze(1), _full(lib, z, s["target"]).unsqueeze(1), reduction="none", **p
    )


def _multilabel_margin_curve(
    lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    target = lib.tensor([[0, -1]]).expand(z.shape[0], 2)
    return lib.nn.functional.multilabel_margin_loss(
        _two_class(lib, z), target, reduction="none", **p
    )


def _ranking_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    return lib.nn.functional.margin_ranking_loss(
        z, _zeros(lib, z), _full(lib, z, s["target"]), reduction="none", **p
    )


def _hinge_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    return lib.nn.functional.hinge_embedding_loss(
        z, _full(lib, z, s["target"]), reduction="none", **p
    )


def _cosine_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    x1 = lib.stack([lib.ones_like(z), lib.zeros_like(z)], dim=1)
    x2 = lib.stack([z.cos(), z.sin()], dim=1)
    return lib.nn.functional.cosine_embedding_loss(
        x1, x2, _full(lib, z, s["target"]), reduction="none", **p
    )


def _triplet(fn: str) -> CurveFn:
    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        anchor = lib.zeros_like(z).unsqueeze(1)
        positive = _full(lib, z, s["positive"]).unsqueeze(1)
        return getattr(lib.nn.functional, fn)(
            anchor, positive, z.unsqueeze(1), reduction="none", **p
        )

    return curve


def _ctc_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    n = z.shape[0]
    log_probs = lib.stack([lib.zeros_like(z), z], dim=1).log_softmax(dim=1).unsqueeze(0)
    ones = lib.ones(n, dtype=lib.long)
    return lib.nn.functional.ctc_loss(
        log_probs, ones.unsqueeze(1), ones, ones, reduction="none", **p
    )


_RESIDUAL = "residual"
_RESIDUAL_LABEL = "residual x − y"
_MARGIN_LABEL = "margin x_y − x_other (two classes)"
_LOGIT_LABEL = "logit x (target y = {target:g})"

# -- the entries -----------------------------------------------------------------------------------

_SAME_SHAPE = (
    "input: (*); target: (*), the same shape; output: a scalar, or (*) with reduction='none'"
)
_DEEP_LEARNING_BOOK = (
    "Goodfellow, I., Bengio, Y. & Courville, A. (2016). Deep Learning, MIT Press, "
    "§6.2.2 (sigmoid and softmax output units and their cross-entropy)"
)

_REGRESSION_DATA = """\
input = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], requires_grad=True)
target = torch.tensor([[0.0, 1.0, 1.5], [-1.0, 0.5, -0.4]])
"""

_LOGITS_3x5 = """\
input = torch.tensor([[1.2, -0.5, 0.3, 2.0, -1.1],
                      [0.1, 0.4, -0.8, 0.0, 1.5],
                      [-0.3, 2.2, 0.7, -1.4, 0.2]], requires_grad=True)
target = torch.tensor([3, 1, 4])
"""

_BINARY_LOGITS = """\
input = torch.tensor([0.8, -1.2, 0.3, 2.5], requires_grad=True)
target = torch.tensor([1., 0., 1., 0.])
"""

CATALOG: tuple[Loss, ...] = (
    Loss(
        key="bce",
        functional="binary_cross_entropy",
        module="BCELoss",
        family="probability",
        summary="Binary cross entropy between probabilities and 0/1 (or soft) targets.",
        tex=r"\ell = -w\,\bigl[y \log x + (1-y) \log(1-x)\bigr]",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \frac{w\,(x-y)}{\max\bigl(x(1-x),\ "
            r"10^{-12}\bigr)}"
        ),
        shape=_SAME_SHAPE,
        references=(_DEEP_LEARNING_BOOK,),
        in_torch=True,
        notes=(
            "input must lie in [0, 1]: anything else raises RuntimeError",
            "each log is clamped at −100, so BCE(0, 1) = 100 and not inf",
            "input and target must have the same size (ValueError); the target must be floating",
            "on logits, prefer BCEWithLogitsLoss: sigmoid followed by BCE loses precision",
        ),
        example="loss = nn.BCELoss()\nm = nn.Sigmoid()\n"
        + _BINARY_LOGITS
        + "output = loss(m(input), target)\noutput.backward()\n",
        curve=Curve(
            "probability",
            "probability x (target y = {target:g})",
            (0.005, 0.995),
            _logit("binary_cross_entropy"),
            {"target": 1.0},
        ),
        tour=True,
        aliases=("binary_cross_entropy_loss",),
    ),
    Loss(
        key="bce_with_logits",
        functional="binary_cross_entropy_with_logits",
        module="BCEWithLogitsLoss",
        family="probability",
        summary="Sigmoid and binary cross entropy in one stable step, on logits.",
        tex=r"\ell = w\,\bigl[(1-y)\,x - (1 + (p-1)\,y)\log\sigma(x)\bigr]",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = w\,\bigl[\sigma(x)\,(1 + (p-1)\,y) - p\,y\bigr]"
        ),
        shape=_SAME_SHAPE + "; pos_weight broadcasts with the class dimension last",
        references=(_DEEP_LEARNING_BOOK,),
        in_torch=True,
        notes=(
            "computed with log σ(x) by the log-sum-exp trick: finite at |x| = 1000",
            "pos_weight broadcasts against the target with the class dimension last "
            "(use shape (C, 1, 1) for (B, C, H, W))",
            "input and target must have the same size (ValueError)",
        ),
        example="loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))\n"
        + _BINARY_LOGITS
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve(
            "logit",
            _LOGIT_LABEL,
            (-6.0, 6.0),
            _logit("binary_cross_entropy_with_logits"),
            {"target": 1.0},
        ),
        aliases=("bcewithlogits",),
    ),
    Loss(
        key="cross_entropy",
        functional="cross_entropy",
        module="CrossEntropyLoss",
        family="classification",
        summary="Softmax cross entropy between logits and class indices or class probabilities.",
        tex=r"\ell = -x_y + \log \sum_j e^{x_j}",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \operatorname{softmax}(x) - "
            r"\operatorname{onehot}(y)"
        ),
        shape=(
            "input: (C), (N, C) or (N, C, d₁, …, d_K) logits; target: class indices (), (N) or (N,"
            " d₁, …, d_K), or probabilities of the input's shape; output: a scalar, or one value "
            "per sample with reduction='none'"
        ),
        references=(
            _DEEP_LEARNING_BOOK,
            (
                "Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer "
                "Vision. CVPR 2016 (label smoothing)"
            ),
        ),
        in_torch=True,
        notes=(
            "'mean' with class indices divides by Σ w[y] over the targets that are not ignored "
            "(a weighted mean), so all targets ignored gives NaN",
            "the target is read as probabilities when it has the input's shape; "
            "then 'mean' divides by the number of samples",
            "label_smoothing in [0, 1] (above 1 → RuntimeError; below 0 is treated as 0)",
            "class indices must be int64 or uint8; an index outside [0, C) → IndexError",
        ),
        example="loss = nn.CrossEntropyLoss()\n"
        + _LOGITS_3x5
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve("margin", _MARGIN_LABEL, (-6.0, 6.0), _softmax_class("cross_entropy")),
        tour=True,
        aliases=("ce",),
    ),
    Loss(
        key="nll",
        functional="nll_loss",
        module="NLLLoss",
        family="classification",
        summary="Negative log-likelihood of the target class, on log-probabilities.",
        tex=r"\ell = -w_y\, x_y",
        tex_gradient=r"\frac{\partial \ell}{\partial x_j} = -w_y\,[j = y]",
        shape=(
            "input: (C), (N, C) or (N, C, d₁, …, d_K) log-probabilities; target: (), (N) or (N, "
            "d₁, …, d_K) class indices; output: a scalar, or the target's shape with "
            "reduction='none'"
        ),
        references=(
            (
                "Goodfellow, I., Bengio, Y. & Courville, A. (2016). Deep Learning, MIT Press, §5.5"
                " (maximum likelihood estimation)"
            ),
        ),
        in_torch=True,
        notes=(
            "expects log-probabilities (log_softmax output)",
            "'mean' divides by Σ w[y] over the targets that are not ignored; all ignored gives NaN",
            "targets must be int64 or uint8; an index outside [0, C) → IndexError",
        ),
        example="loss = nn.NLLLoss()\n"
        + _LOGITS_3x5
        + "output = loss(input.log_softmax(dim=1), target)\noutput.backward()\n",
        curve=Curve(
            "log-probability", "log-probability of the target class", (-5.0, -0.01), _nll_curve
        ),
    ),
    Loss(
        key="l1",
        functional="l1_loss",
        module="L1Loss",
        family="regression",
        summary="Mean absolute error.",
        tex=r"\ell = |x - y|",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \operatorname{sign}(x - y)",
        shape=_SAME_SHAPE + " (a target of another shape is broadcast, with a warning)",
        references=(
            (
                "Hastie, T., Tibshirani, R. & Friedman, J. (2009). The Elements of Statistical "
                "Learning, 2nd ed., Springer, §2.4 (squared and absolute error loss)"
            ),
        ),
        in_torch=True,
        notes=(
            "the gradient at x = y is 0 (sgn)",
            "a target of another shape is broadcast, with a UserWarning",
            "the functional takes weight= of exactly the input's shape; 'mean' is then Σ w·ℓ / Σ w",
        ),
        example="loss = nn.L1Loss()\n"
        + _REGRESSION_DATA
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve(_RESIDUAL, _RESIDUAL_LABEL, (-3.0, 3.0), _residual("l1_loss")),
        tour=True,
        aliases=("mae",),
    ),
    Loss(
        key="mse",
        functional="mse_loss",
        module="MSELoss",
        family="regression",
        summary="Mean squared error.",
        tex=r"\ell = (x - y)^2",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = 2\,(x - y)",
        shape=_SAME_SHAPE + " (a target of another shape is broadcast, with a warning)",
        references=(
            (
                "Hastie, T., Tibshirani, R. & Friedman, J. (2009). The Elements of Statistical "
                "Learning, 2nd ed., Springer, §2.4 (squared and absolute error loss)"
            ),
        ),
        in_torch=True,
        notes=(
            "a target of another shape is broadcast, with a UserWarning",
            "integer input and target → NotImplementedError; a float input promotes an int target",
            "the functional takes weight= of exactly the input's shape; 'mean' is then Σ w·ℓ / Σ w",
            "empty input: 'mean' is NaN, 'sum' is 0",
        ),
        example="loss = nn.MSELoss()\n"
        + _REGRESSION_DATA
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve(_RESIDUAL, _RESIDUAL_LABEL, (-3.0, 3.0), _residual("mse_loss")),
        tour=True,
        aliases=("l2",),
    ),
    Loss(
        key="smooth_l1",
        functional="smooth_l1_loss",
        module="SmoothL1Loss",
        family="regression",
        summary="Squared error near zero, absolute error beyond beta: robust to outliers.",
        tex=(
            r"\ell = \begin{cases} 0.5\,(x-y)^2/\beta & |x-y| < \beta \\ |x-y| - 0.5\,\beta & "
            r"\text{otherwise} \end{cases}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \begin{cases} (x-y)/\beta & |x-y| < \beta \\ "
            r"\operatorname{sign}(x-y) & \text{otherwise} \end{cases}"
        ),
        shape=_SAME_SHAPE + " (a target of another shape is broadcast, with a warning)",
        references=("Girshick, R. (2015). Fast R-CNN. ICCV 2015 (the smooth L1 loss, β = 1)",),
        in_torch=True,
        notes=(
            "beta = 0 is exactly L1; beta < 0 → RuntimeError",
            "at |x − y| = beta the L1 branch is used",
            "equals huber_loss(delta=beta) / beta",
        ),
        example="loss = nn.SmoothL1Loss()\n"
        + _REGRESSION_DATA
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve(_RESIDUAL, _RESIDUAL_LABEL, (-3.0, 3.0), _residual("smooth_l1_loss")),
        tour=True,
    ),
    Loss(
        key="huber",
        functional="huber_loss",
        module="HuberLoss",
        family="regression",
        summary="Squared error near zero, delta-scaled absolute error beyond delta.",
        tex=(
            r"\ell = \begin{cases} 0.5\,(x-y)^2 & |x-y| < \delta \\ \delta\,(|x-y| - 0.5\,\delta) "
            r"& \text{otherwise} \end{cases}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \begin{cases} x-y & |x-y| < \delta \\ "
            r"\delta\,\operatorname{sign}(x-y) & \text{otherwise} \end{cases}"
        ),
        shape=_SAME_SHAPE + " (a target of another shape is broadcast, with a warning)",
        references=(
            (
                "Huber, P. J. (1964). Robust Estimation of a Location Parameter. The Annals of "
                "Mathematical Statistics 35(1), 73–101"
            ),
        ),
        in_torch=True,
        notes=(
            "delta ≤ 0 → RuntimeError; no legacy size_average/reduce arguments",
            "the functional's weight= makes 'mean' divide by the number of elements, not by Σ w",
        ),
        example="loss = nn.HuberLoss(delta=0.5)\n"
        + _REGRESSION_DATA
        + "output = loss(input, target)\noutput.backward()\n",
        curve=Curve(_RESIDUAL, _RESIDUAL_LABEL, (-3.0, 3.0), _residual("huber_loss")),
    ),
    Loss(
        key="poisson_nll",
        functional="poisson_nll_loss",
        module="PoissonNLLLoss",
        family="probability",
        summary="Negative log-likelihood of a Poisson count given its (log-)rate.",
        tex=(
            r"\ell = e^{x} - y\,x \quad(\text{log\_input});\qquad \ell = x - y \log(x + "
            r"\varepsilon)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = e^{x} - y \quad(\text{log\_input});\qquad 1 - "
            r"\frac{y}{x + \varepsilon}"
        ),
        shape=_SAME_SHAPE,
        references=(
            (
                "McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed., Chapman"
                " & Hall (the Poisson log-likelihood; full=True adds Stirling's approximation of "
                "log y!)"
            ),
        ),
        in_torch=True,
        notes=(
            "full=True adds the Stirling term y·log y − y + ½·log(2πy), only where y > 1",
            "eps is used only when log_input=False",
            "no overflow guard: exp(x) is inf for large x, as in torch",
        ),
        example="""\
loss = nn.PoissonNLLLoss()
log_input = torch.tensor([[0.5, -0.3], [1.2, 0.0], [-1.0, 0.8]], requires_grad=True)
target = torch.tensor([[2., 0.], [3., 1.], [0., 2.]])
output = loss(log_input, target)
output.backward()
""",
        curve=Curve(
            "log-rate",
            "log-rate x (count y = {target:g})",
            (-2.0, 3.0),
            _poisson_curve,
            {"target": 2.0},
        ),
        tour=True,
        aliases=("poisson",),
    ),
    Loss(
        key="gaussian_nll",
        functional="gaussian_nll_loss",
        module="GaussianNLLLoss",
        family="probability",
        summary="Negative log-likelihood of a Gaussian with predicted mean and variance.",
        tex=(
            r"\ell = \tfrac12\Bigl[\log \max(v, \varepsilon) + \frac{(x-y)^2}{\max(v, "
            r"\varepsilon)}\Bigr]"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \frac{x-y}{v},\qquad \frac{\partial "
            r"\ell}{\partial v} = \frac12\Bigl(\frac1v - \frac{(x-y)^2}{v^2}\Bigr)"
        ),
        shape=(
            "input: (N, *) or (*); target: the input's shape, or with one dimension of size 1; "
            "var: the input's shape, with one dimension of size 1 or one dimension fewer, or a "
            "scalar; output: a scalar, or the input's shape with reduction='none'"
        ),
        references=(
            (
                "Nix, D. A. & Weigend, A. S. (1994). Estimating the Mean and Variance of the "
                "Target Probability Distribution. IEEE ICNN 1994"
            ),
        ),
        in_torch=True,
        notes=(
            "var is clamped at eps without gradient (straight-through): the forward uses the "
            "clamped value, the gradient passes as if unclamped",
            "any var < 0 → ValueError; an int scalar var → TypeError",
            "full=True adds ½·log(2π)",
        ),
        example="""\
loss = nn.GaussianNLLLoss()
input = torch.tensor([[0.5, 1.0], [2.0, -1.0]], requires_grad=True)
target = torch.tensor([[0.0, 1.5], [1.0, -1.0]])
var = torch.tensor([[0.5, 1.0], [2.0, 0.25]], requires_grad=True)
output = loss(input, target, var)
output.backward()
""",
        curve=Curve(
            _RESIDUAL, "residual x − y (var = {var:g})", (-3.0, 3.0), _gaussian_curve, {"var": 1.0}
        ),
        aliases=("gaussian",),
    ),
    Loss(
        key="kl_div",
        functional="kl_div",
        module="KLDivLoss",
        family="probability",
        summary="Kullback-Leibler divergence of a target distribution from log-probabilities.",
        tex=r"\ell = y\,(\log y - x),\qquad x = \log q",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = -y",
        shape=(
            "input: (*) log-probabilities; target: (*), the same shape; output: a scalar, or (*) "
            "with reduction='none'"
        ),
        references=(
            (
                "Kullback, S. & Leibler, R. A. (1951). On Information and Sufficiency. The Annals "
                "of Mathematical Statistics 22(1), 79–86"
            ),
        ),
        in_torch=True,
        notes=(
            "the input is log-probabilities; the target is probabilities "
            "(or log-probabilities with log_target=True)",
            "'mean' averages over every element and warns on each call: "
            "'batchmean' (sum / batch size) is the true KL divergence",
            "0·log 0 = 0 where the target is 0; a negative target gives NaN",
        ),
        example="""\
loss = nn.KLDivLoss(reduction='batchmean')
q = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], requires_grad=True)
p = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.7, 0.2]])
output = loss(q.log(), p)
output.backward()
""",
        curve=Curve(
            "logit",
            "logit z of q = softmax([z, 0]) (target p₀ = {target:g})",
            (-4.0, 5.0),
            _kl_curve,
            {"target": 0.7},
        ),
        tour=True,
        aliases=("kl", "kldiv"),
    ),
    Loss(
        key="margin_ranking",
        functional="margin_ranking_loss",
        module="MarginRankingLoss",
        family="margin",
        summary="Hinge on the score difference of two inputs ranked by a ±1 target.",
        tex=r"\ell = \max\bigl(0,\ -y\,(x_1 - x_2) + m\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x_1} = -y\,[\,-y(x_1-x_2) + m \ge 0\,] = "
            r"-\frac{\partial \ell}{\partial x_2}"
        ),
        shape=(
            "input1, input2: (N) or (); target: the same shape, values ±1; output: a scalar, or "
            "(N) with reduction='none'"
        ),
        references=(
            (
                "Joachims, T. (2002). Optimizing Search Engines using Clickthrough Data. KDD 2002 "
                "(the pairwise hinge of ranking SVMs)"
            ),
        ),
        in_torch=True,
        notes=(
            "the three inputs must have the same number of dimensions; sizes broadcast within it",
            "at the kink the gradient is taken as active",
        ),
        example="""\
loss = nn.MarginRankingLoss(margin=0.5)
input1 = torch.tensor([0.3, -0.8, 1.1], requires_grad=True)
input2 = torch.tensor([0.9, -0.2, 0.4], requires_grad=True)
target = torch.tensor([1., -1., 1.])
output = loss(input1, input2, target)
output.backward()
""",
        curve=Curve(
            "margin",
            "score difference x₁ − x₂ (target y = {target:g})",
            (-3.0, 3.0),
            _ranking_curve,
            {"target": 1.0},
        ),
        tour=True,
        aliases=("ranking",),
    ),
    Loss(
        key="multilabel_margin",
        functional="multilabel_margin_loss",
        module="MultiLabelMarginLoss",
        family="margin",
        summary="Multi-label hinge: every target class must beat every other class by 1.",
        tex=(
            r"\ell = \frac1C \sum_{j \in T} \sum_{i \notin T} \max\bigl(0,\ 1 - (x_{y_j} - "
            r"x_i)\bigr)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x_i} = \frac{\#\{\text{active pairs with } "
            r"i\}}{C},\quad \frac{\partial \ell}{\partial x_{y_j}} = -\frac{\#\{\text{active "
            r"pairs with } y_j\}}{C}"
        ),
        shape=(
            "input: (C) or (N, C); target: the input's shape, class indices ended by −1; output: a"
            " scalar, or (N) with reduction='none'"
        ),
        references=(
            (
                "Elisseeff, A. & Weston, J. (2001). A Kernel Method for Multi-Labelled "
                "Classification. NIPS 2001 (hinges between relevant and irrelevant labels)"
            ),
        ),
        in_torch=True,
        notes=(
            "the target holds class indices padded with −1: only the prefix before the first −1 "
            "counts",
            "torch has no double backward for this loss",
        ),
        example="""\
loss = nn.MultiLabelMarginLoss()
x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
y = torch.tensor([[3, 0, -1, 1]])
output = loss(x, y)
output.backward()
""",
        curve=Curve("margin", _MARGIN_LABEL, (-3.0, 3.0), _multilabel_margin_curve),
        tour=True,
    ),
    Loss(
        key="soft_margin",
        functional="soft_margin_loss",
        module="SoftMarginLoss",
        family="probability",
        summary="Logistic loss on ±1 targets.",
        tex=r"\ell = \log\bigl(1 + e^{-y\,x}\bigr)",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = -y\,\sigma(-y\,x)",
        shape=(
            "input: (*); target: (*), the same shape, values ±1; output: a scalar, or (*) with "
            "reduction='none'"
        ),
        references=(_DEEP_LEARNING_BOOK,),
        in_torch=True,
        notes=(
            "not overflow-safe in torch: x = −1000, y = 1 gives inf",
            "the target is not differentiable (RuntimeError)",
        ),
        example="""\
loss = nn.SoftMarginLoss()
input = torch.tensor([[0.3, 0.7], [0.5, 0.5]], requires_grad=True)
target = torch.tensor([[-1., 1.], [1., -1.]])
output = loss(input, target)
output.backward()
""",
        curve=Curve(
            "logit", _LOGIT_LABEL, (-6.0, 6.0), _logit("soft_margin_loss"), {"target": 1.0}
        ),
        tour=True,
    ),
    Loss(
        key="multilabel_soft_margin",
        functional="multilabel_soft_margin_loss",
        module="MultiLabelSoftMarginLoss",
        family="probability",
        summary="Multi-label logistic loss, averaged over the classes.",
        tex=(
            r"\ell = -\frac1C \sum_c w_c\,\bigl[y_c \log\sigma(x_c) + "
            r"(1-y_c)\log\sigma(-x_c)\bigr]"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x_c} = \frac{w_c}{C}\,\bigl(\sigma(x_c) - y_c\bigr)"
        ),
        shape=(
            "input: (N, C) or (C); target: the same shape, 0/1 labels; output: a scalar, or (N) "
            "with reduction='none'"
        ),
        references=(_DEEP_LEARNING_BOOK,),
        in_torch=True,
        notes=(
            "the class dimension is the last one; the output drops it",
            "weight is applied elementwise before the mean over classes",
        ),
        example="""\
loss = nn.MultiLabelSoftMarginLoss()
input = torch.tensor([[0.9, -0.2, 0.4, 0.8]], requires_grad=True)
target = torch.tensor([[1., 0., 0., 1.]])
output = loss(input, target)
output.backward()
""",
        curve=Curve(
            "logit",
            _LOGIT_LABEL,
            (-6.0, 6.0),
            _multilabel_soft_curve,
            {"target": 1.0},
            note="one class (C = 1)",
        ),
    ),
    Loss(
        key="multi_margin",
        functional="multi_margin_loss",
        module="MultiMarginLoss",
        family="margin",
        summary=(
            "Multi-class hinge (Weston-Watkins): the target class must beat the others by margin."
        ),
        tex=r"\ell = \frac1C \sum_{i \ne y} w_y \max\bigl(0,\ m - x_y + x_i\bigr)^p",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x_i} = \frac{w_y\,p\,h_i^{\,p-1}}{C}\ (i \ne y,\ h_i "
            r"> 0),\qquad \frac{\partial \ell}{\partial x_y} = -\sum_{i \ne y} \frac{\partial "
            r"\ell}{\partial x_i}"
        ),
        shape=(
            "input: (N, C) or (C); target: (N) or () class indices; output: a scalar, or (N) with "
            "reduction='none'"
        ),
        references=(
            (
                "Weston, J. & Watkins, C. (1999). Support Vector Machines for Multi-Class Pattern "
                "Recognition. ESANN 1999"
            ),
        ),
        in_torch=True,
        notes=(
            "p must be 1 or 2 (ValueError otherwise); weight scales by w[y]",
            "each sample's sum is already divided by C",
            "torch has no double backward for this loss",
        ),
        example="""\
loss = nn.MultiMarginLoss()
input = torch.tensor([[0.3, 0.7], [0.5, 0.5]], requires_grad=True)
target = torch.tensor([0, 1])
output = loss(input, target)
output.backward()
""",
        curve=Curve("margin", _MARGIN_LABEL, (-3.0, 3.0), _softmax_class("multi_margin_loss")),
        tour=True,
    ),
    Loss(
        key="triplet_margin",
        functional="triplet_margin_loss",
        module="TripletMarginLoss",
        family="margin",
        summary="Pull the anchor towards the positive and away from the negative by a margin.",
        tex=(
            r"\ell = \max\bigl(d(a, p) - d(a, n) + m,\ 0\bigr),\qquad d(u, v) = \lVert u - v + "
            r"\varepsilon \rVert_p"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial a} = \nabla_a d(a, p) - \nabla_a d(a, "
            r"n)\quad\text{(where active)}"
        ),
        shape=(
            "anchor, positive, negative: (N, D) or (D); output: a scalar, or (N) with "
            "reduction='none'"
        ),
        references=(
            (
                "Schroff, F., Kalenichenko, D. & Philbin, J. (2015). FaceNet: A Unified Embedding "
                "for Face Recognition and Clustering. CVPR 2015"
            ),
            (
                "Balntas, V., Riba, E., Ponsa, D. & Mikolajczyk, K. (2016). Learning local feature"
                " descriptors with triplets and shallow convolutional neural networks. BMVC 2016 "
                "(swap)"
            ),
        ),
        in_torch=True,
        notes=(
            "eps is added to the difference vector, so d(a, a) = eps·D^(1/p) and the gradient at "
            "coincident points is defined",
            "swap=True uses min(d(a, n), d(p, n)) as the negative distance",
            "margin ≤ 0 → ValueError",
        ),
        example="""\
loss = nn.TripletMarginLoss(margin=1.0, p=2)
anchor = torch.tensor([[0.0, 1.0, 0.5], [1.0, -0.5, 0.2]], requires_grad=True)
positive = torch.tensor([[0.2, 0.9, 0.4], [0.1, 0.3, -0.4]], requires_grad=True)
negative = torch.tensor([[1.0, 0.0, 0.5], [1.2, -0.4, 0.1]], requires_grad=True)
output = loss(anchor, positive, negative)
output.backward()
""",
        curve=Curve(
            "distance",
            "distance to the negative d(a, n) (d(a, p) = {positive:g})",
            (0.01, 3.0),
            _triplet("triplet_margin_loss"),
            {"positive": 1.0},
        ),
        tour=True,
        aliases=("triplet",),
    ),
    Loss(
        key="triplet_margin_with_distance",
        functional="triplet_margin_with_distance_loss",
        module="TripletMarginWithDistanceLoss",
        family="margin",
        summary="Triplet loss with any distance function.",
        tex=r"\ell = \max\bigl(d(a, p) - d(a, n) + m,\ 0\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial a} = \nabla_a d(a, p) - \nabla_a d(a, "
            r"n)\quad\text{(where active)}"
        ),
        shape=(
            "anchor, positive, negative: (N, *), what distance_function accepts; output: a scalar,"
            " or (N) with reduction='none'"
        ),
        references=(
            (
                "Schroff, F., Kalenichenko, D. & Philbin, J. (2015). FaceNet: A Unified Embedding "
                "for Face Recognition and Clustering. CVPR 2015"
            ),
        ),
        in_torch=True,
        notes=(
            "keyword-only options; margin ≤ 0 → ValueError",
            "the three inputs must have the same number of dimensions",
        ),
        example="""\
loss = nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: (a - b).abs().sum(dim=1))
anchor = torch.tensor([[0.0, 1.0, 0.5], [1.0, -0.5, 0.2]], requires_grad=True)
positive = torch.tensor([[0.2, 0.9, 0.4], [0.1, 0.3, -0.4]], requires_grad=True)
negative = torch.tensor([[1.0, 0.0, 0.5], [1.2, -0.4, 0.1]], requires_grad=True)
output = loss(anchor, positive, negative)
output.backward()
""",
        curve=Curve(
            "distance",
            "distance to the negative d(a, n) (d(a, p) = {positive:g})",
            (0.01, 3.0),
            _triplet("triplet_margin_with_distance_loss"),
            {"positive": 1.0},
        ),
    ),
    Loss(
        key="hinge_embedding",
        functional="hinge_embedding_loss",
        module="HingeEmbeddingLoss",
        family="margin",
        summary=(
            "Hinge on a distance: small for similar pairs (y = 1), above margin for dissimilar "
            "ones."
        ),
        tex=r"\ell = \begin{cases} x & y = 1 \\ \max(0,\ m - x) & y = -1 \end{cases}",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \begin{cases} 1 & y = 1 \\ -[\,x \le m\,] & y = "
            r"-1 \end{cases}"
        ),
        shape=(
            "input: (*) distances; target: (*), the same shape, values ±1; output: a scalar, or "
            "(*) with reduction='none'"
        ),
        references=(
            (
                "Hadsell, R., Chopra, S. & LeCun, Y. (2006). Dimensionality Reduction by Learning "
                "an Invariant Mapping. CVPR 2006 (the margin on distances of dissimilar pairs)"
            ),
        ),
        in_torch=True,
        notes=(
            "the input is a distance, e.g. |x₁ − x₂|",
            "targets are not validated: any y other than ±1 gets both terms",
        ),
        example="""\
loss = nn.HingeEmbeddingLoss()
input = torch.tensor([[1.0, 0.8, 0.5]], requires_grad=True)
target = torch.tensor([[1, 1, -1]])
output = loss(input, target)
output.backward()
""",
        curve=Curve(
            "distance",
            "distance x (target y = {target:g})",
            (0.0, 3.0),
            _hinge_curve,
            {"target": -1.0},
        ),
        tour=True,
        aliases=("hinge",),
    ),
    Loss(
        key="cosine_embedding",
        functional="cosine_embedding_loss",
        module="CosineEmbeddingLoss",
        family="margin",
        summary=(
            "Cosine similarity pulled to 1 for similar pairs, pushed below margin for dissimilar "
            "ones."
        ),
        tex=(
            r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ \max\bigl(0,\ \cos(x_1, x_2) - "
            r"m\bigr) & y = -1 \end{cases}"
        ),
        tex_gradient=(
            r"\frac{\partial \cos}{\partial x_1} = \frac{x_2}{\lVert x_1\rVert\,\lVert x_2\rVert} "
            r"- \cos(x_1, x_2)\,\frac{x_1}{\lVert x_1\rVert^2}"
        ),
        shape=(
            "input1, input2: (N, D) or (D); target: (N) or (), values ±1; output: a scalar, or (N)"
            " with reduction='none'"
        ),
        references=(
            (
                "PyTorch documentation, torch.nn.CosineEmbeddingLoss (from Torch7's "
                "CosineEmbeddingCriterion)"
            ),
        ),
        in_torch=True,
        notes=(
            "1e−12 is added to each squared norm: a zero vector has cos = 0",
            "targets other than ±1 give 0 (no error)",
            "inputs are (N, D) with target (N), or (D) with a 0-d target",
        ),
        example="""\
loss = nn.CosineEmbeddingLoss()
input1 = torch.tensor([[0.3, 0.5, 0.7], [0.3, 0.5, 0.7]], requires_grad=True)
input2 = torch.tensor([[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]], requires_grad=True)
target = torch.tensor([1., -1.])
output = loss(input1, input2, target)
output.backward()
""",
        curve=Curve(
            "angle",
            "angle θ between x₁ and x₂ in radians (target y = {target:g})",
            (0.0, float(np.pi)),
            _cosine_curve,
            {"target": 1.0},
        ),
        tour=True,
        aliases=("cosine",),
    ),
    Loss(
        key="ctc",
        functional="ctc_loss",
        module="CTCLoss",
        family="ctc",
        summary=(
            "Connectionist temporal classification: sums over all alignments of a target sequence."
        ),
        tex=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t p_t(\pi_t)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \log p_t(k)} = p_t(k) - \gamma_t(k),\qquad "
            r"\gamma_t(k) = \frac{\sum_{s: l_s = k} \alpha_t(s)\,\beta_t(s)}{p(y \mid x)}"
        ),
        shape=(
            "log_probs: (T, N, C) or (T, C); targets: (N, S) padded, or the targets concatenated; "
            "input_lengths, target_lengths: (N) or (); output: a scalar, or (N) with "
            "reduction='none'"
        ),
        references=(
            (
                "Graves, A., Fernández, S., Gomez, F. & Schmidhuber, J. (2006). Connectionist "
                "Temporal Classification: Labelling Unsegmented Sequence Data with Recurrent "
                "Neural Networks. ICML 2006"
            ),
        ),
        in_torch=True,
        notes=(
            "'mean' divides each loss by its target length (at least 1), then averages",
            "an impossible alignment gives +inf; zero_infinity=True turns it and its gradient to 0",
            "torch returns the gradient in the softmax-fused form exp(log p) − γ, correct through "
            "a log_softmax; torch has no double backward for this loss",
        ),
        example="""\
loss = nn.CTCLoss()
logits = torch.arange(40.).reshape(5, 2, 4).sin()       # (T=5, N=2, C=4), 0 = blank
log_probs = logits.log_softmax(2).detach().requires_grad_()
targets = torch.tensor([[1, 2, 2], [3, 1, 0]])
input_lengths = torch.tensor([5, 4])
target_lengths = torch.tensor([3, 2])
output = loss(log_probs, targets, input_lengths, target_lengths)
output.backward()
""",
        curve=Curve(
            "logit", "logit of the label against blank (T = 1, C = 2)", (-6.0, 6.0), _ctc_curve
        ),
        tour=True,
    ),
    Loss(
        key="focal",
        functional="focal_loss",
        module="FocalLoss",
        family="classification",
        summary="Cross entropy scaled by (1 − p)^γ so that easy examples weigh less.",
        tex=r"\ell = -(1 - p_y)^{\gamma} \log p_y,\qquad p_y = \operatorname{softmax}(x)_y",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \bigl[\gamma\,p_y (1-p_y)^{\gamma-1} \log p_y - "
            r"(1-p_y)^{\gamma}\bigr]\bigl(\operatorname{onehot}(y) - "
            r"\operatorname{softmax}(x)\bigr)"
        ),
        shape=(
            "input: (C), (N, C) or (N, C, d₁, …, d_K) logits; target: (), (N) or (N, d₁, …, d_K) "
            "class indices; output: a scalar, or the target's shape with reduction='none'"
        ),
        references=(
            (
                "Lin, T.-Y., Goyal, P., Girshick, R., He, K. & Dollár, P. (2017). Focal Loss for "
                "Dense Object Detection. ICCV 2017"
            ),
        ),
        in_torch=False,
        notes=(
            "gamma = 0 is cross_entropy exactly, weight and ignore_index included; "
            "gamma < 0 → ValueError",
            "'mean' divides by the cross entropy's own denominator (Σ w[y] over the targets "
            "not ignored); the tutorial's loss.mean() divides by N, the same without weights "
            "or ignored targets",
            "where the cross entropy is 0 the loss and its gradient are 0, never NaN",
        ),
        example="loss = nn.FocalLoss(gamma=2.0)\n"
        + _LOGITS_3x5
        + "output = loss(input, target)\noutput.backward()\n",
        torch_example=_LOGITS_3x5
        + """\
ce = F.cross_entropy(input, target, reduction='none')   # the tutorial's focal_loss
output = ((1 - torch.exp(-ce)) ** 2.0 * ce).mean()
output.backward()
""",
        torch_note="the tutorial's focal_loss",
        curve=Curve(
            "margin",
            _MARGIN_LABEL,
            (-6.0, 6.0),
            _softmax_class("focal_loss"),
            params={"gamma": 2.0},
            note="its default γ = 0 (the tutorial's) equals CrossEntropyLoss",
        ),
        tour=True,
    ),
    Loss(
        key="sigmoid_focal",
        functional="sigmoid_focal_loss",
        module="SigmoidFocalLoss",
        family="classification",
        summary="Binary focal loss on logits (RetinaNet): BCE scaled by α_t·(1 − p_t)^γ.",
        tex=(
            r"\ell = \alpha_t (1 - p_t)^{\gamma}\,\mathrm{BCE}(x, y),\qquad p_t = \sigma(x)\,y + "
            r"(1-\sigma(x))(1-y)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \alpha_t\bigl[(1-p_t)^{\gamma}(\sigma(x) - y) - "
            r"\gamma (1-p_t)^{\gamma-1}(2y-1)\,\sigma(x)(1-\sigma(x))\,\mathrm{BCE}\bigr]"
        ),
        shape=(
            "input: (*) logits; target: (*), the same shape; output: (*) (the default "
            "reduction='none'), or a scalar"
        ),
        references=(
            (
                "Lin, T.-Y., Goyal, P., Girshick, R., He, K. & Dollár, P. (2017). Focal Loss for "
                "Dense Object Detection. ICCV 2017"
            ),
            "torchvision.ops.sigmoid_focal_loss (the definition followed)",
        ),
        in_torch=False,
        torch_note="torchvision.ops.sigmoid_focal_loss",
        notes=(
            "α_t = α·y + (1 − α)·(1 − y); alpha < 0 disables the α weighting",
            "torchvision's defaults: alpha = 0.25, gamma = 2 and reduction = 'none'",
            "computed in log space: finite, with finite gradients, for logits of any size",
        ),
        example="""\
input = torch.tensor([0.8, -1.2, 0.3, 2.5], requires_grad=True)
target = torch.tensor([1., 0., 1., 0.])
output = F.sigmoid_focal_loss(input, target, reduction='mean')
output.backward()
""",
        torch_example=_BINARY_LOGITS
        + """\
p = torch.sigmoid(input)                               # torchvision's sigmoid_focal_loss
ce = F.binary_cross_entropy_with_logits(input, target, reduction='none')
p_t = p * target + (1 - p) * (1 - target)
alpha_t = 0.25 * target + 0.75 * (1 - target)
output = (alpha_t * ce * (1 - p_t) ** 2).mean()
output.backward()
""",
        curve=Curve(
            "logit",
            _LOGIT_LABEL,
            (-6.0, 6.0),
            _logit("sigmoid_focal_loss"),
            {"target": 1.0},
        ),
    ),
)


#: The loss families beyond torch keep their entries in files of their own,
#: ``lossgrad/_catalog_<family>.py``, each defining ``TITLE`` (the family's heading) and
#: ``ENTRIES`` (a tuple of :class:`Loss`); they join the catalog here, in this order.
EXTENSION_FAMILIES: tuple[str, ...] = (
    "transducer",
    "sparse",
    "ranking",
    "contrastive",
    "robust",
    "quantile",
    "robust_classification",
    "distribution",
    "segmentation",
    "detection",
    "image",
    "language",
)

for _family in EXTENSION_FAMILIES:
    _module = importlib.import_module(f"lossgrad._catalog_{_family}")
    FAMILIES[_family] = _module.TITLE
    CATALOG += _module.ENTRIES


def _norm(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return key[:-4] if key.endswith("loss") and len(key) > 4 else key


_INDEX: dict[str, Loss] = {_norm(n): e for e in CATALOG for n in e.names()}


def find(name: str) -> Loss:
    """The entry for any of its names: ``smooth_l1``, ``smooth_l1_loss``, ``SmoothL1Loss``, ...

    Raises:
        KeyError: unknown name; the message suggests close names.

    Example:
        >>> find("SmoothL1Loss").functional
        'smooth_l1_loss'
        >>> find("BCE").module
        'BCELoss'
    """
    entry = _INDEX.get(_norm(name))
    if entry is not None:
        return entry
    close = difflib.get_close_matches(_norm(name), list(_INDEX), n=3, cutoff=0.6)
    hint = {_INDEX[c].key: None for c in close}
    suggestion = f"; did you mean {' or '.join(hint)}?" if hint else "; see 'lossgrad list'"
    raise KeyError(f"unknown loss {name!r}{suggestion}")


def tour_losses() -> list[Loss]:
    """The sixteen losses of the tutorial, in its order."""
    return [e for e in CATALOG if e.tour]


def by_family(family: str) -> list[Loss]:
    return [e for e in CATALOG if e.family == family]
