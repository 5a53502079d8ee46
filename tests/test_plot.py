"""lossgrad.plot and ``lossgrad plot``: the curves are torch's, the images have the asked size.

Curve values are compared with the same curves computed by torch (``_catalog.curve_data`` with
``lib=torch``), and for the lossgrad extensions with their formula written in torch.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import lossgrad.nn as nn
from lossgrad import _catalog
from lossgrad.plot import plot_loss, plot_losses

IN_TORCH = [e.key for e in _catalog.CATALOG if e.in_torch]


def _lines(fig: Figure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    loss_ax, grad_ax = fig.axes
    (loss_line,), (grad_line,) = loss_ax.lines, grad_ax.lines
    return loss_line.get_xdata(), loss_line.get_ydata(), grad_line.get_ydata()


@pytest.mark.parametrize("key", IN_TORCH)
def test_curve_and_gradient_match_torch(key):
    entry = _catalog.find(key)
    fig = plot_loss(key, grad=True, points=101)
    x, loss, grad = _lines(fig)
    ref = _catalog.curve_data(entry, torch, params=dict(entry.curve.params), points=101)
    np.testing.assert_allclose(x, ref.x)
    np.testing.assert_allclose(loss, ref.loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, ref.grad, rtol=1e-9, atol=1e-12)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()


def _torch_curve(fn, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = torch.tensor(z, requires_grad=True)
    loss = fn(t)
    loss.sum().backward()
    return loss.detach().numpy(), t.grad.numpy()


def test_focal_curve_is_the_tutorials_formula():
    """Focal with gamma: (1 - p)^gamma * CE with p = exp(-CE), the tutorial's focal_loss."""
    fig = plot_loss("focal", grad=True, params={"gamma": 2.0}, points=101)
    x, loss, grad = _lines(fig)

    def reference(z):
        logits = torch.stack([z, torch.zeros_like(z)], dim=1)
        ce = torch.nn.functional.cross_entropy(
            logits, torch.zeros(len(z), dtype=torch.long), reduction="none"
        )
        return (1 - torch.exp(-ce)) ** 2.0 * ce

    ref_loss, ref_grad = _torch_curve(reference, x)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-10)


def test_sigmoid_focal_curve_is_torchvisions_formula():
    fig = plot_loss("sigmoid_focal", grad=True, points=101)
    x, loss, grad = _lines(fig)

    def reference(z):  # torchvision.ops.sigmoid_focal_loss with alpha=0.25, gamma=2, target 1
        target = torch.ones_like(z)
        p = torch.sigmoid(z)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(z, target, reduction="none")
        p_t = p * target + (1 - p) * (1 - target)
        alpha_t = 0.25 * target + 0.75 * (1 - target)
        return alpha_t * ce * (1 - p_t) ** 2

    ref_loss, ref_grad = _torch_curve(reference, x)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-10)


def test_module_options_and_params_are_used():
    fig = plot_loss(nn.SmoothL1Loss(beta=0.5), grad=True, points=101)
    x, loss, _ = _lines(fig)
    ref = _catalog.curve_data(_catalog.find("smooth_l1"), torch, params={"beta": 0.5}, points=101)
    np.testing.assert_allclose(loss, ref.loss)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["SmoothL1Loss (beta=0.5)"]
    # a plot setting: the fixed target of a logit curve
    fig = plot_loss("bce_with_logits", params={"target": 0.0}, points=101)
    ref = _catalog.curve_data(
        _catalog.find("bce_with_logits"), torch, params={"target": 0.0}, points=101
    )
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), ref.loss)
    assert "target y = 0" in fig.axes[0].get_xlabel()


def test_a_module_only_loss_is_drawn_with_the_instances_options():
    """An nn.AdaptiveLogSoftmaxWithLoss instance (no functional in torch) is drawn with its own
    div_value, read from the module as its constructor's options."""
    fig = plot_loss(nn.AdaptiveLogSoftmaxWithLoss(1, 4, cutoffs=[2], div_value=0.5), points=101)
    entry = _catalog.find("adaptive_log_softmax")
    ref = _catalog.curve_data(entry, torch, params={"div_value": 0.5}, points=101)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), ref.loss, rtol=1e-9, atol=1e-12)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["AdaptiveLogSoftmaxWithLoss (div_value=0.5)"]


def _tutorial_focal(gamma: float):
    def reference(z):
        logits = torch.stack([z, torch.zeros_like(z)], dim=1)
        ce = torch.nn.functional.cross_entropy(
            logits, torch.zeros(len(z), dtype=torch.long), reduction="none"
        )
        return (1 - torch.exp(-ce)) ** gamma * ce

    return reference


def test_focal_is_drawn_at_gamma_2_and_says_why():
    """By name, FocalLoss is drawn at gamma = 2 (at its default 0 it is the cross entropy)."""
    fig = plot_loss("focal", grad=True, points=101)
    x, loss, grad = _lines(fig)
    ref_loss, ref_grad = _torch_curve(_tutorial_focal(2.0), x)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-10)
    (label,) = fig.axes[0].get_legend_handles_labels()[1]
    assert label.startswith("FocalLoss (gamma=2.0)")
    assert "default γ = 0" in label and "CrossEntropyLoss" in label
    # an instance is drawn with its own gamma: the default 0 is torch's cross entropy
    fig = plot_loss(nn.FocalLoss(), points=101)
    ce = _catalog.curve_data(_catalog.find("cross_entropy"), torch, points=101)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), ce.loss, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", list(_catalog.FAMILIES))
def test_overview_has_one_panel_per_x_axis(family):
    entries = [e for e in _catalog.by_family(family) if e.available()]
    fig = plot_losses([e.key for e in entries], grad=True, points=51)
    xlabels = [e.curve.xlabel.format(**e.curve.settings) for e in entries]
    rows = list(dict.fromkeys(xlabels))
    assert len(fig.axes) == 2 * len(rows)
    for row, xlabel in enumerate(rows):
        loss_ax, grad_ax = fig.axes[2 * row : 2 * row + 2]
        assert loss_ax.get_xlabel() == grad_ax.get_xlabel() == xlabel
        assert len(loss_ax.lines) == xlabels.count(xlabel)


def _torch_curve_of(label: str, points: int) -> _catalog.CurveData:
    """torch's curve for a loss torch has (an extension's own curve is checked against its
    formula written in torch by the tests above)."""
    title = label.split("\n")[0].split(" (")[0]
    entry = next(e for e in _catalog.CATALOG if e.title == title)
    lib = torch if entry.in_torch else None
    return _catalog.curve_data(entry, lib, params=dict(entry.curve.params), points=points)


def _same(a: _catalog.CurveData, b: _catalog.CurveData) -> bool:
    return np.allclose(a.loss, b.loss, rtol=1e-9, atol=1e-12) and np.allclose(
        a.grad, b.grad, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("family", list(_catalog.FAMILIES))
def test_coinciding_curves_are_drawn_apart_and_named(family):
    """A curve equal (by torch) to an earlier one of its panel is dashed with markers and its
    legend says so; every other curve is a plain line."""
    keys = [e.key for e in _catalog.by_family(family) if e.available()]
    fig = plot_losses(keys, grad=True, points=51)
    for ax in fig.axes[::2]:
        shown = []
        for line in ax.lines:
            label = line.get_label()
            data = _torch_curve_of(label, 51)
            twins = [name for name, other in shown if _same(data, other)]
            if twins:
                assert f"(the same curve as {twins[0]})" in label
                assert line.get_linestyle() != "-" and line.get_marker() not in ("None", None)
            else:
                assert "the same curve" not in label and line.get_linestyle() == "-", label
            shown.append((label.split("\n")[0], data))


def test_known_coincidences_are_marked():
    """SmoothL1 at beta = 1 is Huber at delta = 1; one-class MultiLabelSoftMargin and
    SoftMargin at y = 1 are BCEWithLogits; MultiMargin and MultiLabelMargin agree on two classes."""
    expected = {
        "regression": {"HuberLoss": "SmoothL1Loss"},
        "probability": {
            "SoftMarginLoss": "BCEWithLogitsLoss",
            "MultiLabelSoftMarginLoss": "BCEWithLogitsLoss",
        },
        "margin": {"MultiMarginLoss": "MultiLabelMarginLoss"},
    }
    for family, pairs in expected.items():
        keys = [e.key for e in _catalog.by_family(family)]
        labels = [line.get_label() for ax in plot_losses(keys, points=51).axes for line in ax.lines]
        for repeat, original in pairs.items():
            (label,) = [x for x in labels if x.startswith(repeat + "\n") or x == repeat]
            assert f"(the same curve as {original})" in label, label


def test_overlay_groups_axes_by_kind():
    fig = plot_losses(["smooth_l1", "l1", "cross_entropy"], grad=True, points=51)
    assert len(fig.axes) == 4  # a residual row and a margin row, loss and gradient each
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 1, 1]
    assert [ax.get_title() for ax in fig.axes[:2]] == ["loss", "gradient"]


def test_into_existing_axes():
    fig = Figure()
    ax = fig.subplots()
    assert plot_loss("huber", ax=ax, grad=True, points=51) is fig
    assert len(ax.lines) == 2


def test_unknown_names_raise_keyerror():
    with pytest.raises(KeyError, match="unknown loss 'nope'"):
        plot_loss("nope")
    with pytest.raises(KeyError, match="option 'beta'"):
        plot_losses(["mse", "l1"], params={"beta": 1.0})


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "lossgrad", "plot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_cli_png_has_the_requested_size_and_is_not_blank(tmp_path):
    proc = _cli("smooth_l1", "l1", "--grad", "--size", "640x360", "-o", "curves.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stdout.strip().splitlines()
    assert first == f"figure: {(tmp_path / 'curves.png').resolve()}"  # said before drawing
    assert last == "wrote curves.png (640x360 px): SmoothL1Loss, L1Loss"
    image = matplotlib.image.imread(tmp_path / "curves.png")
    assert image.shape[:2] == (360, 640)
    rgb = image[..., :3]
    not_white = (rgb < 0.9).any(axis=-1).mean()
    assert 0.01 < not_white < 0.5
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20


def test_cli_svg_and_default_name(tmp_path):
    proc = _cli("huber", "--set", "delta=0.5", "--size", "800x500", "-o", "huber.svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(tmp_path / "huber.svg").getroot()
    assert (root.get("width"), root.get("height")) == ("576pt", "360pt")  # 8 x 5 inches
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10
    proc = _cli("mse", "l1", "--xlim", "-5", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mse_l1.png").exists()


def test_import_lossgrad_stays_light():
    code = (
        "import sys, lossgrad; print(sorted(m for m in ('matplotlib', 'lossgrad.cli', "
        "'lossgrad.plot', 'lossgrad._catalog') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
