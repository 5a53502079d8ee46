"""The first-order gradient a fused loss keeps from its forward.

A fused loss whose forward computes ∂l/∂x anyway (a slope, an exponential) keeps it in an array
on ``ctx.kept``; when reduced, already multiplied by the reduction's scale
(`_reduction.kept_scale`). Its array backward then takes it (`take`) and multiplies it by the
upstream gradient in place (`times_upstream`): no pass at all for the usual ``loss.backward()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad import _parallel


def take(ctx: Any) -> np.ndarray | None:
    """The array kept on ``ctx``, to be overwritten by the caller: handed over on the node's last
    use (``ctx.last_use``), a copy while the graph is retained; None when there is none. Raises
    torch's errors for a freed graph or an operand modified in place since the forward."""
    kept = getattr(ctx, "kept", None)
    if kept is None:
        return None
    ctx._saved_arrays()
    if not ctx.last_use:
        return kept.copy()
    ctx.kept = None
    return kept


def times_upstream(kept: np.ndarray, upstream: Any, reduced: bool) -> np.ndarray:
    """``kept * upstream`` in place, returned. A reduced loss's upstream gradient is a scalar:
    nothing to do at 1, one scaling pass over the thread pool otherwise; an unreduced loss's is
    an array of the loss's shape: one product."""
    if reduced:
        return kept if upstream == 1 else _parallel.scale(kept, upstream)
    return np.multiply(kept, upstream, out=kept)
