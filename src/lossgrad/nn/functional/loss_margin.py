"""Margin and embedding losses: multi_margin, multilabel_margin, margin_ranking, hinge_embedding, cosine_embedding, triplet_margin(_with_distance)."""

from __future__ import annotations

from lossgrad._exports import public_names

__all__ = public_names(globals())
