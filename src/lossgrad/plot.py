"""Loss and gradient curves: see a loss by its shape, beside its derivative.

Each loss is drawn along the axis that suits its kind (the residual ``x − y`` for regression, the
logit or the margin for classification, a distance for embedding losses); see ``lossgrad list``.
The values are computed by calling the loss itself, and the gradient by ``backward()``.

matplotlib is an optional dependency (``pip install 'lossgrad[plot]'``), imported only when a
plot is drawn. The functions return a matplotlib ``Figure`` built without pyplot, so
they work headless; in a notebook the figure displays itself, and ``fig.savefig(path)`` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from lossgrad import _catalog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_loss", "plot_losses"]

_MISSING = "lossgrad.plot needs matplotlib: pip install 'lossgrad[plot]'"


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ModuleNotFoundError(_MISSING, name="matplotlib") from e
    return Figure


def _resolve(item: Any, params: Mapping[str, Any]) -> tuple[_catalog.Loss, dict[str, Any], str]:
    """(entry, options, legend label) for a loss name or an ``nn.*Loss`` instance.

    A name is drawn with the options its picture uses (``entry.curve.params``: focal loss at
    ``gamma=2``), an instance with its own; ``params`` override both. The label names every
    option that differs from the loss's default.
    """
    if isinstance(item, str):
        entry = _catalog.find(item)
        own = dict(entry.curve.params)
    else:
        entry = _catalog.find(type(item).__name__)
        own = {k: getattr(item, k) for k in entry.tunable() if hasattr(item, k)}
    tunable = entry.tunable()
    options = {**own, **{k: v for k, v in params.items() if k in tunable}}
    changed = [f"{k}={v!r}" for k, v in options.items() if tunable.get(k) != v]
    label = entry.title + (f" ({', '.join(changed)})" if changed else "")
    return entry, options, label


class _Curve(NamedTuple):
    entry: _catalog.Loss
    options: dict[str, Any]
    label: str
    data: _catalog.CurveData
    xlabel: str


def _curves(
    losses: Iterable[Any],
    params: Mapping[str, Any] | None,
    lim: tuple[float, float] | None,
    points: int,
) -> list[_Curve]:
    params = dict(params or {})
    resolved = [_resolve(item, params) for item in losses]
    if not resolved:
        raise ValueError("plot_losses needs at least one loss")
    unused = [k for k in params if not any(k in entry.tunable() for entry, _, _ in resolved)]
    if unused:
        names = ", ".join(entry.key for entry, _, _ in resolved)
        raise KeyError(f"no loss among {names} has an option {unused[0]!r}")
    return [
        _Curve(
            entry,
            options,
            label,
            _catalog.curve_data(entry, params=options, lim=lim, points=points),
            _xlabel(entry, options),
        )
        for entry, options, label in resolved
    ]


def _xlabel(entry: _catalog.Loss, options: Mapping[str, Any]) -> str:
    settings = {k: options.get(k, v) for k, v in entry.curve.settings.items()}
    return entry.curve.xlabel.format(**settings)


def _same_curve(a: _catalog.CurveData, b: _catalog.CurveData) -> bool:
    """Whether two curves coincide, loss and gradient, on the same x values."""
    return (
        a.x.shape == b.x.shape
        and np.allclose(a.x, b.x)
        and np.allclose(a.loss, b.loss, rtol=1e-9, atol=1e-12, equal_nan=True)
        and np.allclose(a.grad, b.grad, rtol=1e-9, atol=1e-12, equal_nan=True)
    )


def _panels(curves: list[_Curve]) -> dict[str, list[tuple[_Curve, str | None]]]:
    """The curves by x-axis (one panel each), each with the label of an earlier curve of its
    panel that it coincides with (or None)."""
    panels: dict[str, list[tuple[_Curve, str | None]]] = {}
    for curve in curves:
        panel = panels.setdefault(curve.xlabel, [])
        twin = next((c.label for c, _ in panel if _same_curve(c.data, curve.data)), None)
        panel.append((curve, twin))
    return panels


def _style(index: int, twin: str | None) -> dict[str, Any]:
    """Line style: a curve that coincides with an earlier one is dashed, with markers."""
    if twin is None:
        return {}
    return {
        "linestyle": (index % 3 * 3, (5, 4)),
        "marker": "osD^v"[index % 5],
        "markevery": (0.05 * (index % 4), 0.2),
        "markersize": 5,
        "linewidth": 2.0,
    }


def _legend_label(curve: _Curve, twin: str | None) -> str:
    """The curve's label, its picture's note on a second line, and which curve it repeats."""
    note = curve.entry.curve.note if curve.options == dict(curve.entry.curve.params) else ""
    lines = [curve.label, note, f"(the same curve as {twin})" if twin else ""]
    return "\n".join(line for line in lines if line)


def plot_losses(
    losses: Iterable[Any],
    *,
    grad: bool = False,
    params: Mapping[str, Any] | None = None,
    lim: tuple[float, float] | None = None,
    points: int = 401,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Overlay the curves of several losses, with their gradients beside them if ``grad``.

    Args:
        losses: loss names (``'smooth_l1'``, ``'SmoothL1Loss'``, ``'smooth_l1_loss'``) or
            ``nn.*Loss`` instances, whose options (``beta``, ``margin``, ...) are used.
        grad: add a column with ``dℓ/dx`` computed by ``backward()``.
        params: options applied to every loss that has them, e.g. ``{'beta': 0.5}``, and the plot
            settings of a loss (its fixed ``target``, ...); see ``lossgrad explain NAME``.
        lim: the x range; by default each loss's own.
        points: samples along x.
        figsize: in inches; by default 6.4 × 4 per panel.

    Returns:
        A matplotlib Figure: one row per x-axis (the residual, a logit at a given target, the
        margin, ...), one column for the loss and one for its gradient. A curve that coincides
        with an earlier one of its row (SmoothL1Loss and HuberLoss at beta = delta = 1) is drawn
        dashed with markers, and its legend entry says which curve it repeats. A loss named by
        a string is drawn with the options of its picture (FocalLoss at gamma = 2); the legend
        names every option that differs from the loss's default.

    Raises:
        ModuleNotFoundError: matplotlib is not installed (``name == 'matplotlib'``).
        KeyError: an unknown loss, or an option that none of the losses has.

    Example:
        >>> fig = plot_losses(["smooth_l1", "l1"], grad=True, lim=(-10, 10))
        >>> [ax.get_title() for ax in fig.axes]
        ['loss', 'gradient']
    """
    figure = _figure_class()
    panels = _panels(_curves(losses, params, lim, points))
    cols = 2 if grad else 1
    fig = figure(figsize=figsize or (6.4 * cols, 4.0 * len(panels)), layout="constrained")
    grid = fig.subplots(len(panels), cols, squeeze=False)
    for row, (xlabel, panel) in zip(grid, panels.items(), strict=True):
        for index, (curve, twin) in enumerate(panel):
            style = _style(index, twin)
            label = _legend_label(curve, twin)
            row[0].plot(curve.data.x, curve.data.loss, label=label, **style)
            if grad:
                row[1].plot(curve.data.x, curve.data.grad, label=label, **style)
        for ax, ylabel in zip(row, ("loss ℓ", "gradient ∂ℓ/∂x"), strict=False):
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
    grid[0][0].set_title("loss")
    if grad:
        grid[0][1].set_title("gradient")
    return fig


def plot_loss(
    loss: Any,
    *,
    grad: bool = False,
    params: Mapping[str, Any] | None = None,
    lim: tuple[float, float] | None = None,
    points: int = 401,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw one loss (and its gradient if ``grad``) along its axis.

    Takes the arguments of ``plot_losses`` for one loss. With ``ax``, draws into that
    matplotlib Axes instead (the gradient dashed, on the same axes) and returns its figure, so
    the curve can join a pyplot figure of your own.

    Example:
        >>> import lossgrad.nn as nn
        >>> fig = plot_loss(nn.HuberLoss(delta=0.5), grad=True)
        >>> fig.axes[0].get_legend_handles_labels()[1]
        ['HuberLoss (delta=0.5)']
    """
    if ax is None:
        return plot_losses(
            [loss], grad=grad, params=params, lim=lim, points=points, figsize=figsize
        )
    _figure_class()
    (curve,) = _curves([loss], params, lim, points)
    label = _legend_label(curve, None)
    ax.plot(curve.data.x, curve.data.loss, label=label)
    if grad:
        ax.plot(curve.data.x, curve.data.grad, linestyle="--", label=f"∂ℓ/∂x, {label}")
    ax.set_xlabel(curve.xlabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return cast("Figure", ax.figure)  # the Figure (or SubFigure) that holds ax
