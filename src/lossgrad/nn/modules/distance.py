"""Distance modules: PairwiseDistance, CosineSimilarity."""

from __future__ import annotations

from lossgrad._exports import public_names

__all__ = public_names(globals())
