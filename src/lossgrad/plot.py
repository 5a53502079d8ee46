"""Loss and gradient curves: see a loss by its shape, beside its derivative.

Each loss is drawn along the axis that suits its kind (the residual ``x − y`` for regression, the
logit or the margin for classification, a distance for embedding losses); see ``lossgrad list``.
The values are computed by calling the loss itself, and the gradient by ``backward()``.

matplotlib is an optional dependency (``pip install 'lossgrad[plot]'``), imported only when a
plot is drawn. The functions return a :class:`matplotlib.figure.Figure` built without pyplot, so
they work headless; in a notebook the figure displays itself, and ``fig.savefig(path)`` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

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
    """(entry, options, legend label) for a loss name or an ``nn.*Loss`` instance."""
    if isinstance(item, str):
        entry, own = _catalog.find(item), {}
    else:
        entry = _catalog.find(type(item).__name__)
        own = {k: getattr(item, k) for k in entry.tunable() if hasattr(item, k)}
    tunable = entry.tunable()
    options = {**own, **{k: v for k, v in params.items() if k in tunable}}
    changed = [f"{k}={v!r}" for k, v in options.items() if tunable.get(k) != v]
    label = entry.title + (f" ({', '.join(changed)})" if changed else "")
    return entry, options, label


def _curves(
    losses: Iterable[Any],
    params: Mapping[str, Any] | None,
    lim: tuple[float, float] | None,
    points: int,
) -> list[tuple[_catalog.Loss, dict[str, Any], str, _catalog.CurveData]]:
    params = dict(params or {})
    resolved = [_resolve(item, params) for item in losses]
    if not resolved:
        raise ValueError("plot_losses needs at least one loss")
    unused = [k for k in params if not any(k in entry.tunable() for entry, _, _ in resolved)]
    if unused:
        names = ", ".join(entry.key for entry, _, _ in resolved)
        raise KeyError(f"no loss among {names} has an option {unused[0]!r}")
    return [
        (entry, options, label, _catalog.curve_data(entry, params=options, lim=lim, points=points))
        for entry, options, label in resolved
    ]


def _xlabel(entry: _catalog.Loss, options: Mapping[str, Any]) -> str:
    settings = {k: options.get(k, v) for k, v in entry.curve.settings.items()}
    return entry.curve.xlabel.format(**settings)


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
        A matplotlib Figure: one row per kind of axis (residual, logit, margin, ...), one column
        for the loss and one for its gradient.

    Raises:
        ModuleNotFoundError: matplotlib is not installed (``name == 'matplotlib'``).
        KeyError: an unknown loss, or an option that none of the losses has.

    Example:
        >>> fig = plot_losses(["smooth_l1", "l1"], grad=True, lim=(-10, 10))
        >>> [ax.get_title() for ax in fig.axes]
        ['loss', 'gradient']
    """
    figure = _figure_class()
    curves = _curves(losses, params, lim, points)
    axes_kinds = list(dict.fromkeys(entry.curve.axis for entry, *_ in curves))
    cols = 2 if grad else 1
    fig = figure(figsize=figsize or (6.4 * cols, 4.0 * len(axes_kinds)), layout="constrained")
    grid = fig.subplots(len(axes_kinds), cols, squeeze=False)
    for row, kind in zip(grid, axes_kinds, strict=True):
        group = [c for c in curves if c[0].curve.axis == kind]
        xlabel = "; ".join(dict.fromkeys(_xlabel(entry, options) for entry, options, *_ in group))
        for _entry, _options, label, data in group:
            row[0].plot(data.x, data.loss, label=label)
            if grad:
                row[1].plot(data.x, data.grad, label=label)
        for ax, ylabel in zip(row, ("loss ℓ", "gradient ∂ℓ/∂x"), strict=False):
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend()
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

    Takes the arguments of :func:`plot_losses` for one loss. With ``ax``, draws into that
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
    ((entry, options, label, data),) = _curves([loss], params, lim, points)
    ax.plot(data.x, data.loss, label=label)
    if grad:
        ax.plot(data.x, data.grad, linestyle="--", label=f"∂ℓ/∂x, {label}")
    ax.set_xlabel(_xlabel(entry, options))
    ax.grid(True, alpha=0.3)
    ax.legend()
    return cast("Figure", ax.figure)  # the Figure (or SubFigure) that holds ax
