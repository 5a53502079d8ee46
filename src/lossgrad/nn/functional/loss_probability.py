"""Probability losses: binary_cross_entropy(_with_logits), kl_div, poisson_nll_loss, gaussian_nll_loss, soft_margin_loss, multilabel_soft_margin_loss."""

from __future__ import annotations

from lossgrad._exports import public_names

__all__ = public_names(globals())
