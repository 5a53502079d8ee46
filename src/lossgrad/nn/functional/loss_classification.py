"""Classification losses: nll_loss, cross_entropy, and the focal losses (lossgrad extensions)."""

from __future__ import annotations

from lossgrad._exports import public_names

__all__ = public_names(globals())
