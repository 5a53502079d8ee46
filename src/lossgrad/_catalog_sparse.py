"""Catalog entries of the sparse-mapping and Poly-1 losses (see :mod:`lossgrad._catalog`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossgrad._catalog import _MARGIN_LABEL, Curve, Loss, _softmax_class

TITLE = "Sparse and polynomial classification losses"

_SCORES = """\
input = torch.tensor([[2.0, 1.5, -1.0], [0.0, 3.0, 0.5]], requires_grad=True)
target = torch.tensor([1, 1])
"""

_FENCHEL_YOUNG_NOTE = (
    "Fenchel–Young loss of the Tsallis entropy H_α(p) = (1 − Σ p_j^α) / (α(α − 1)): "
    "l = H_α(p*) + ⟨p*, z⟩ − z_y ≥ 0, zero once the target leads by enough"
)


def _margin_curve(functional: str, settings: dict[str, Any]) -> Curve:
    """The two-class margin curve; a curve setting (entmax_bisect's α, drawn at 1.25 so that it
    does not hide entmax-1.5) is passed to the loss unless ``--set`` gives it."""
    loss_curve = _softmax_class(functional)

    def curve(
        lib: Any, z: Any, params: Mapping[str, Any], curve_settings: Mapping[str, Any]
    ) -> Any:
        return loss_curve(lib, z, {**curve_settings, **params}, curve_settings)

    return Curve("margin", _MARGIN_LABEL, (-4.0, 4.0), curve, settings)


def _entry(key: str, functional: str, module: str, alpha: str, summary: str, **extra: Any) -> Loss:
    mapping = key  # the mapping shares the loss's short name
    return Loss(
        key=key,
        functional=functional,
        module=module,
        family="sparse",
        summary=summary,
        tex=rf"\ell = H_{{{alpha}}}(p^\star) + \langle p^\star, z\rangle - z_y,\qquad "
        rf"p^\star = \mathrm{{{mapping}}}(z)",
        tex_gradient=r"\frac{\partial \ell}{\partial z} = p^\star - e_y",
        in_torch=False,
        notes=(_FENCHEL_YOUNG_NOTE, *extra.pop("notes", ())),
        example=_SCORES + f"output = F.{functional}(input, target)\noutput.backward()\n",
        curve=_margin_curve(functional, extra.pop("settings", {})),
        torch_note=extra.pop("torch_note"),
        **extra,
    )


ENTRIES: tuple[Loss, ...] = (
    _entry(
        "sparsemax",
        "sparsemax_loss",
        "SparsemaxLoss",
        "2",
        "Sparsemax loss: cross-entropy's analogue for sparsemax, zero beyond a margin of 1.",
        torch_note="entmax.sparsemax_loss = optax.losses.multiclass_sparsemax_loss",
        notes=(
            "H_2(p) = (1 − ‖p‖²)/2; second derivative = the sparsemax Jacobian (double backward "
            "works; the entmax package's custom Function gives none)",
            "reference: Martins & Astudillo, From Softmax to Sparsemax, ICML 2016",
        ),
    ),
    _entry(
        "entmax15",
        "entmax15_loss",
        "Entmax15Loss",
        "1.5",
        "1.5-entmax loss: between cross-entropy (α = 1) and the sparsemax loss (α = 2).",
        torch_note="entmax.entmax15_loss",
        notes=(
            "H_1.5(p) = (1 − Σ p^1.5)/0.75; p* = max(z/2 − τ, 0)² computed exactly by sorting",
            "reference: Peters, Niculae & Martins, Sparse Sequence-to-Sequence Models, ACL 2019",
        ),
    ),
    _entry(
        "entmax_bisect",
        "entmax_bisect_loss",
        "EntmaxBisectLoss",
        "α",
        "α-entmax loss for any α > 1 (bisection for the threshold).",
        torch_note="entmax.entmax_bisect_loss",
        settings={"alpha": 1.25},
        notes=(
            "α = 2 is the sparsemax loss; α → 1 approaches cross-entropy",
            "reference: Blondel, Martins & Niculae, Learning with Fenchel-Young Losses, JMLR 2020",
        ),
    ),
    Loss(
        key="poly1",
        functional="poly1_cross_entropy",
        module="Poly1CrossEntropyLoss",
        family="sparse",
        summary="Poly-1: cross-entropy plus ε(1 − p_t), re-weighting its leading polynomial term.",
        tex=r"\ell = -\sum_c t_c \log p_c + \varepsilon\Bigl(1 - \sum_c t_c p_c\Bigr),\qquad "
        r"p = \mathrm{softmax}(z)",
        tex_gradient=r"\frac{\partial \ell}{\partial z} = \sum_c t_c (p - e_c) - \varepsilon\, "
        r"p \odot (t - \langle t, p\rangle)",
        in_torch=False,
        torch_note="timm.loss.PolyCrossEntropy = optax.losses.poly_loss_cross_entropy",
        notes=(
            "t is the one-hot target (label-smoothed when label_smoothing > 0) or the given "
            "probabilities; ε = 0 is cross-entropy",
            "default ε = 2.0 (optax's and timm's); the paper uses ε = −1 for detection",
            "reference: Leng et al., PolyLoss, ICLR 2022",
        ),
        example="""\
input = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.2]], requires_grad=True)
target = torch.tensor([0, 2])
output = F.poly1_cross_entropy(input, target, epsilon=1.0)
output.backward()
""",
        torch_example="""\
input = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.2]], requires_grad=True)
target = torch.tensor([0, 2])
ce = F.cross_entropy(input, target, reduction='none')      # timm's PolyCrossEntropy
p_t = F.softmax(input, dim=1).gather(1, target[:, None]).squeeze(1)
output = (ce + 1.0 * (1 - p_t)).mean()
output.backward()
""",
        curve=Curve("margin", _MARGIN_LABEL, (-4.0, 4.0), _softmax_class("poly1_cross_entropy")),
    ),
)
