"""Catalog entries of the learning-to-rank losses (see :mod:`lossgrad._catalog`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossgrad._catalog import Curve, CurveFn, Loss

TITLE = "Ranking losses"

_LISTS = """\
scores = torch.tensor([[2.0, 0.5, 1.0, -1.0], [0.3, 0.1, 0.9, 0.0]], requires_grad=True)
labels = torch.tensor([[3.0, 0.0, 1.0, 0.0], [0.0, 1.0, 2.0, 0.0]])
"""


def _two_items(fn: str) -> CurveFn:
    """Two items, the relevant one scored ``z`` above the other: the loss of one list."""

    def curve(lib: Any, z: Any, params: Mapping[str, Any], settings: Mapping[str, Any]) -> Any:
        scores = lib.stack([z, lib.zeros_like(z)], dim=1)
        labels = lib.stack([lib.ones_like(z), lib.zeros_like(z)], dim=1)
        out = getattr(lib.nn.functional, fn)(scores, labels, reduction="none", **params)
        return out.sum(dim=(1, 2)) if out.dim() == 3 else out

    return curve


_MARGIN = "score margin s_relevant − s_other (two items)"


def _entry(key: str, functional: str, module: str, **fields: Any) -> Loss:
    return Loss(
        key=key,
        functional=functional,
        module=module,
        family="ranking",
        in_torch=False,
        example=_LISTS + f"output = F.{functional}(scores, labels)\noutput.backward()\n",
        curve=Curve("margin", _MARGIN, (-4.0, 4.0), _two_items(functional)),
        **fields,
    )


ENTRIES: tuple[Loss, ...] = (
    _entry(
        "softmax_ranking",
        "softmax_ranking_loss",
        "SoftmaxRankingLoss",
        summary="Softmax (ListNet-style) ranking loss: cross-entropy of the labels against "
        "softmax(scores).",
        tex=r"\ell = -\sum_i y_i \log \mathrm{softmax}(s)_i",
        tex_gradient=r"\frac{\partial \ell}{\partial s_i} = \Bigl(\sum_j y_j\Bigr)"
        r"\mathrm{softmax}(s)_i - y_i",
        torch_note="rax.softmax_loss = optax.losses.ranking_softmax_loss",
        notes=(
            "labels are used as given (not normalised), times the optional weights",
            "'mean' averages over lists with a valid item; 0 when there is none",
            "reference: Cao et al., ListNet, ICML 2007; Bruch et al., SIGIR 2019",
        ),
    ),
    _entry(
        "listmle",
        "listmle_loss",
        "ListMLELoss",
        summary="ListMLE: negative log-likelihood of the label order under Plackett–Luce.",
        tex=r"\ell = -\sum_i \Bigl[s_{(i)} - \log \sum_{j \ge i} e^{s_{(j)}}\Bigr]",
        tex_gradient=r"\frac{\partial \ell}{\partial s_{(k)}} = \sum_{i \le k} "
        r"\frac{e^{s_{(k)}}}{\sum_{j \ge i} e^{s_{(j)}}} - 1",
        torch_note="rax.listmle_loss",
        notes=(
            "ties keep their order (rax without a random key); invalid items are sorted last",
            "reference: Xia et al., Listwise Approach to Learning to Rank, ICML 2008",
        ),
    ),
    _entry(
        "pairwise_logistic",
        "pairwise_logistic_loss",
        "PairwiseLogisticLoss",
        summary="RankNet's pairwise logistic loss over every pair with y_i > y_j.",
        tex=r"\ell_{ij} = \log\bigl(1 + e^{-(s_i - s_j)}\bigr),\quad y_i > y_j",
        tex_gradient=r"\frac{\partial \ell_{ij}}{\partial s_i} = -\sigma(s_j - s_i)",
        torch_note="rax.pairwise_logistic_loss",
        notes=(
            "'mean' averages over the valid pairs of the whole batch (rax), 0 without any",
            "reference: Burges et al., Learning to Rank using Gradient Descent, ICML 2005",
        ),
    ),
    _entry(
        "pairwise_hinge",
        "pairwise_hinge_loss",
        "PairwiseHingeLoss",
        summary="Pairwise hinge loss over every pair with y_i > y_j.",
        tex=r"\ell_{ij} = \max\bigl(0, 1 - (s_i - s_j)\bigr),\quad y_i > y_j",
        tex_gradient=r"\frac{\partial \ell_{ij}}{\partial s_i} = -[s_i - s_j < 1]",
        torch_note="rax.pairwise_hinge_loss",
        notes=(
            "'mean' averages over the valid pairs of the whole batch (rax)",
            "reference: Herbrich et al. 2000; Joachims, RankSVM, KDD 2002",
        ),
    ),
)
