"""Catalog entry of the RNN transducer loss (see :mod:`lossgrad._catalog`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossgrad._catalog import Curve, Loss

TITLE = "Transducer loss (RNN-T)"


def _one_frame_one_label(
    lib: Any, z: Any, params: Mapping[str, Any], settings: Mapping[str, Any]
) -> Any:
    """One frame, one label, two symbols (label 0, blank 1): the label's logit is ``z`` at
    ``u = 0`` and both symbols tie at ``u = 1``, so the loss is ``-log σ(z) + log 2``."""
    n = z.shape[0]
    emit_step = lib.stack([z, lib.zeros_like(z)], dim=1)
    after = lib.zeros(n, 2, dtype=z.dtype)
    logits = lib.stack([emit_step, after], dim=1).unsqueeze(1)
    ones = lib.ones(n, dtype=lib.int32)
    return lib.nn.functional.rnnt_loss(
        logits, lib.zeros(n, 1, dtype=lib.int32), ones, ones, reduction="none", **params
    )


ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="rnnt",
        functional="rnnt_loss",
        module="RNNTLoss",
        family="transducer",
        summary="RNN transducer loss: −log P(y | x) over every alignment of frames and labels.",
        tex=r"\ell = -\bigl(\alpha_{T-1,U} + \varnothing_{T-1,U}\bigr),\quad \alpha_{t,u} = "
        r"\operatorname{logaddexp}(\alpha_{t-1,u} + \varnothing_{t-1,u},\ "
        r"\alpha_{t,u-1} + y_{t,u-1})",
        tex_gradient=r"\frac{\partial \ell}{\partial \log P(k \mid t, u)} = -\gamma_{t,u,k}",
        in_torch=False,
        torch_note="torchaudio.functional.rnnt_loss (blank = −1); warprnnt-numba (blank = 0)",
        notes=(
            "logits (B, T, U+1, V); log-softmax applied inside unless fused_log_softmax=False",
            "'mean' averages the utterance costs (not divided by lengths), as torchaudio",
            "clamp bounds each utterance's gradient before the upstream scale (torchaudio's rule)",
            "second derivatives by autograd through the recursion (no other implementation has "
            "them)",
            "reference: Graves, Sequence Transduction with Recurrent Neural Networks, 2012",
        ),
        example="""\
torch.manual_seed(0)
logits = torch.randn(2, 5, 3, 4, requires_grad=True)         # B=2, T=5, U=2, V=4 (blank = 3)
targets = torch.tensor([[0, 2], [1, 0]], dtype=torch.int32)
output = F.rnnt_loss(logits, targets, torch.tensor([5, 4], dtype=torch.int32),
                     torch.tensor([2, 1], dtype=torch.int32))
output.backward()
""",
        curve=Curve(
            "logit", "logit of the label at the first step", (-6.0, 6.0), _one_frame_one_label
        ),
    ),
)
