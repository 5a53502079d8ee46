"""Catalog entries of the distances between distributions and samples
(``nn/functional/loss_distribution.py``). Their curves move one sample (or distribution) past the
other and show the distance and its gradient in the shift."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from lossgrad._catalog import Curve, Loss

TITLE = "Distances between distributions and samples"

_SHIFT_LABEL = "shift z of the second sample"
_SAMPLE = np.array([-1.0, -0.4, 0.0, 0.3, 1.2])
_CLOUD = np.array([[0.0, 0.0], [1.0, 0.2], [0.4, 1.0], [-0.6, 0.5], [0.2, -0.7], [0.8, -0.4]])


def _line_curve(functional: str) -> Any:
    """The 1-D distance between ``_SAMPLE`` and ``_SAMPLE + z``, one column per shift."""

    def fn(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        base = lib.tensor(_SAMPLE, dtype=lib.float64).unsqueeze(1)
        columns = (len(_SAMPLE), z.shape[0])
        return getattr(lib.nn.functional, functional)(base.expand(*columns), base + z, **p)

    return fn


def _cloud_curve(functional: str, blur: float) -> Any:
    """The distance between ``_CLOUD`` and ``_CLOUD`` shifted by ``z`` along the first axis, one
    batch entry per shift (``blur`` unless set)."""

    def fn(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        cloud = lib.tensor(_CLOUD, dtype=lib.float64).unsqueeze(0).expand(z.shape[0], *_CLOUD.shape)
        direction = lib.tensor([1.0, 0.0], dtype=lib.float64)
        moved = cloud + z.reshape(-1, 1, 1) * direction
        options = {"blur": blur, **p}
        return getattr(lib.nn.functional, functional)(cloud, moved, reduction="none", **options)

    return fn


def _js_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    first = lib.stack([z, lib.zeros_like(z)], dim=1).softmax(dim=1)
    second = lib.tensor([[s["target"], 1.0 - s["target"]]], dtype=lib.float64)
    return lib.nn.functional.js_divergence(
        first, second.expand(z.shape[0], 2), reduction="none", **p
    )


_LINE_DATA = """\
u = torch.tensor([0.0, 1.0, 3.0, 4.5], requires_grad=True)
v = torch.tensor([0.5, 2.0, 2.5])
"""
_CLOUD_DATA = """\
x = torch.tensor([[0.0, 0.0], [1.0, 0.2], [0.4, 1.0], [-0.6, 0.5]], requires_grad=True)
y = torch.tensor([[0.3, 0.1], [1.4, 0.0], [0.2, 1.5]])
"""

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="wasserstein_1d",
        functional="wasserstein_1d",
        module="WassersteinLoss1d",
        family="distribution",
        summary="Exact W_p^p between two weighted samples on the line (sorting, no solver).",
        tex=r"W_p^p = \int_0^1 \bigl|F_u^{-1}(t) - F_v^{-1}(t)\bigr|^p\,dt",
        tex_gradient=r"\frac{\partial W_p^p}{\partial u_i} = p \int_{I_i} \bigl|F_u^{-1} - "
        r"F_v^{-1}\bigr|^{p-1}\operatorname{sign}\bigl(F_u^{-1} - F_v^{-1}\bigr)\,dt",
        in_torch=False,
        notes=(
            "equal to POT's wasserstein_1d (the p-th power) and, at p = 1, to "
            "scipy.stats.wasserstein_distance; weights are normalised as SciPy does",
            "(n, k) inputs hold k independent pairs of distributions (POT's convention)",
        ),
        example="loss = nn.WassersteinLoss1d(p=1)\n"
        + _LINE_DATA
        + "output = loss(u, v)\noutput.backward()\n",
        curve=Curve("shift", _SHIFT_LABEL, (-3.0, 3.0), _line_curve("wasserstein_1d")),
        aliases=("wasserstein", "emd_1d"),
    ),
    Loss(
        key="energy_distance",
        functional="energy_distance",
        module="EnergyDistanceLoss",
        family="distribution",
        summary="Energy distance between two weighted samples on the line (SciPy).",
        tex=r"D = \sqrt{2\int (U(x) - V(x))^2\,dx}",
        tex_gradient=r"\frac{\partial D}{\partial u} = \frac{1}{D}\,\frac{\partial}{\partial u}"
        r"\int (U - V)^2\,dx",
        in_torch=False,
        notes=("equal to scipy.stats.energy_distance; the gradient is 0 where D = 0",),
        example="loss = nn.EnergyDistanceLoss()\n"
        + _LINE_DATA
        + "output = loss(u, v)\noutput.backward()\n",
        curve=Curve("shift", _SHIFT_LABEL, (-3.0, 3.0), _line_curve("energy_distance")),
    ),
    Loss(
        key="js_divergence",
        functional="js_divergence",
        module="JSDivergenceLoss",
        family="distribution",
        summary="Jensen–Shannon divergence between discrete distributions (bounded by log 2).",
        tex=r"\mathrm{JS} = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m),"
        r"\quad m = \tfrac{p+q}{2}",
        tex_gradient=r"\frac{\partial\,\mathrm{JS}}{\partial p} = \tfrac12(\log p - \log m)",
        in_torch=False,
        notes=(
            "the square of scipy.spatial.distance.jensenshannon; 0·log 0 = 0, finite "
            "gradients at zeros",
        ),
        example="""\
loss = nn.JSDivergenceLoss()
logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.5, 0.5]], requires_grad=True)
target = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
output = loss(logits.softmax(dim=1), target)
output.backward()
""",
        curve=Curve(
            "logit",
            "logit z of p = softmax([z, 0]) (q = [{target:g}, 1 − {target:g}])",
            (-6.0, 6.0),
            _js_curve,
            {"target": 0.8},
        ),
        aliases=("jsd", "jensen_shannon"),
    ),
    Loss(
        key="mmd",
        functional="mmd_loss",
        module="MMDLoss",
        family="distribution",
        summary="Kernel MMD between point clouds (Gaussian, Laplacian, energy; geomloss).",
        tex=r"\ell = \tfrac12 a^\top K_{xx} a + \tfrac12 b^\top K_{yy} b - a^\top K_{xy} b",
        tex_gradient=r"\frac{\partial \ell}{\partial x_i} = a_i \sum_j \bigl(a_j \nabla_1 "
        r"K(x_i, x_j) - b_j \nabla_1 K(x_i, y_j)\bigr)",
        in_torch=False,
        notes=(
            "equal to geomloss's SamplesLoss(kernel, blur=blur) (tensorized), values and "
            "gradients; distances floored at 1e-4 as there",
            "the curve uses blur = 0.5 unless set",
        ),
        example="loss = nn.MMDLoss(kernel='gaussian', blur=0.5)\n"
        + _CLOUD_DATA
        + "output = loss(x, y)\noutput.backward()\n",
        curve=Curve("shift", _SHIFT_LABEL, (-3.0, 3.0), _cloud_curve("mmd_loss", 0.5)),
        aliases=("maximum_mean_discrepancy",),
    ),
    Loss(
        key="sinkhorn",
        functional="sinkhorn_loss",
        module="SinkhornLoss",
        family="distribution",
        summary="Debiased Sinkhorn divergence between point clouds, ε-scaling (geomloss).",
        tex=r"S_\varepsilon(a,b) = \mathrm{OT}_\varepsilon(a,b) - \tfrac12\mathrm{OT}_"
        r"\varepsilon(a,a) - \tfrac12\mathrm{OT}_\varepsilon(b,b)",
        tex_gradient=r"\nabla_x S_\varepsilon \text{ by autograd through the iterations "
        r"(gradient='exact')}",
        in_torch=False,
        notes=(
            "values equal geomloss's SamplesLoss('sinkhorn', p, blur, scaling, backend="
            "'tensorized'); gradient='envelope' also reproduces its gradient, which differs "
            "from the true one by the unconverged part (up to half the largest entry at "
            "blur = 0.05, scaling = 0.5)",
            "non-negative, 0 for equal clouds; tends to W_p^p / p as blur → 0",
        ),
        example="loss = nn.SinkhornLoss(blur=0.1)\n"
        + _CLOUD_DATA
        + "output = loss(x, y)\noutput.backward()\n",
        curve=Curve("shift", _SHIFT_LABEL, (-3.0, 3.0), _cloud_curve("sinkhorn_loss", 0.1)),
        aliases=("sinkhorn_divergence",),
    ),
)
