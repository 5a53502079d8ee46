"""The first-order gradient a fused loss keeps from its forward.

A fused loss whose forward computes ∂l/∂x anyway (a slope, an exponential) keeps it in an array
on ``ctx.kept``; when reduced, already multiplied by the reduction's scale
(`_reduction.kept_scale`). Its array backward then takes it (`take`) and multiplies it by the
upstream gradient in place (`times_upstream`): no pass at all for the usual ``loss.backward()``.
Its recorded backward (a graph under ``create_graph``) differentiates the loss's definition in
ops instead (`definition_grads`), so second derivatives work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lossgrad import _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad


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
    if reduced:  # compared as a Python float: a tenth of the cost of a 0-d array comparison
        return kept if float(upstream) == 1.0 else _parallel.scale(kept, upstream)
    return np.multiply(kept, upstream, out=kept)


def definition_grads(
    loss: Tensor, inputs: Sequence[Tensor | None], needs: Sequence[bool], upstream: Tensor
) -> list[Tensor | None]:
    """The recorded backward of a fused op: the gradients of ``loss`` (the op's definition in
    ops, computed from ``inputs``) times ``upstream``, with a graph, for the inputs whose flag
    in ``needs`` is set; None for the others. An input passed twice gets its whole gradient at
    its first place (the engine adds every place's gradient to it)."""
    wanted = list({id(x): x for x, need in zip(inputs, needs) if need}.values())
    found = dict(zip(map(id, wanted), grad(loss, wanted, upstream, create_graph=True)))
    return [found.pop(id(x), None) if need else None for x, need in zip(inputs, needs)]
