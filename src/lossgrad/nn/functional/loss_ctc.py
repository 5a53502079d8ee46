"""Connectionist temporal classification: ctc_loss.

The kernel follows Graves et al. (2006) and torch's ``LossCTC.cpp``, vectorized over the batch and
the extended label positions, with a Python loop over time only:

* **forward**: the alpha recursion in log space, one max-shifted log-sum-exp per cell (torch's
  scheme, so no state underflows that torch keeps). The batch is laid out as one flat row of
  ``N * (2S + 3)`` cells per time step (two padding cells before each sample), so the three
  predecessors of every cell are the same row shifted by 0, 1 and 2: each step is a dozen
  whole-row ufunc calls. The log-alpha lattice, one float
  per cell in the input's dtype (torch keeps the same ``log_alpha``), is held until backward;
  the emissions are gathered a block of rows at a time, never as a whole lattice.
* **backward**: instead of a second log-space recursion for beta, the posterior
  ``gamma_t(s) = alpha_t(s) beta_t(s) / (p(l|x) y_t(s))`` is propagated back through the
  weights of each step, ``gamma_{t-1}(s - i) += w_i(t, s) gamma_t(s)`` with ``w_i`` the local
  softmax ``exp(a_i - m) / s`` of the log-sum-exp: a few multiply-adds per cell, on
  probabilities in [0, 1] (nothing to overflow, and no cancellation between two large
  log-magnitudes as in torch's ``exp(lcab + nll - lp)``, so float32 results are closer to
  float64 than torch's). The weights of step ``t`` are recomputed from row ``t - 1`` of alpha
  by the forward's own ufunc calls (so they are bitwise the forward's), and that row is then
  overwritten by ``gamma_{t-1}``: the backward holds no second lattice, so its peak is one
  lattice plus the gradient where torch's is two lattices (alpha, beta) plus the gradient.
  Small lattices keep the weights on a tape in the forward instead (4
  floats per cell, at most 4 MiB in float32), which saves the backward nine of its fifteen
  ufunc calls per step where the per-call overhead dominates. The posterior of each class is
  then summed over the states that carry it (one batched product with a one-hot matrix for
  small problems, fancy-index scatters a block of rows at a time otherwise), and the gradient
  is torch's ``exp(log_probs) - posterior``. A second backward through a retained graph runs the
  forward kernel again for what the first one overwrote (the lattice, or the tape).
* The batch is split over lossgrad's thread pool (``lossgrad._parallel``, one part per core;
  NumPy releases the GIL inside ufuncs) when every part gets rows of at least
  ``_PARALLEL_ROW`` cells. On shorter rows the threads mostly wait for each other's turn
  with the interpreter between the ufunc calls, and one thread is faster.

"Impossible" cells hold a large negative finite number instead of -inf (-1e30 in float32, -1e300
in float64), so no inf - inf ever makes a NaN inside the recursion; a likelihood below half that
value is reported as torch's +inf. A float32 input that holds a finite log-probability at or
below half the float32 value (where torch, whose impossible is -inf, still adds it up) is
computed in float64 and the loss cast back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad, grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops.pointwise import clamp_min, exp, mul, sub, where
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.shape import cat, reshape, stack

_NEG = {np.dtype(np.float32): -1e30, np.dtype(np.float64): -1e300}
_PARALLEL_ROW = 1 << 12  # lattice cells per time step that each thread gets at least
_ONEHOT_MACS = 1 << 22  # posterior cells * C up to which classes are collected by a matmul
_GATHER_BLOCK = 1 << 16  # lattice cells per block of rows gathered at once in the forward
_SCATTER_BLOCK = 1 << 17  # label cells per block of rows scattered at once in the backward
_TAPE_CELLS = 1 << 18  # T * N * (2S + 3) up to which the forward keeps its weights for backward


def _by_last_frame(il: np.ndarray, mask: np.ndarray) -> dict[int, np.ndarray]:
    """The samples selected by ``mask``, grouped by their last frame ``il - 1``."""
    rows = np.flatnonzero(mask)
    if rows.size and (il[rows] == il[rows[0]]).all():
        return {int(il[rows[0]]) - 1: rows}
    return {int(t) - 1: rows[il[rows] == t] for t in np.unique(il[rows])}


def _weights(
    a1: np.ndarray,
    a2: np.ndarray,
    a3: np.ndarray,
    pen: np.ndarray,
    w: np.ndarray,
    w0: np.ndarray,
    w1: np.ndarray,
    w2: np.ndarray,
    s: np.ndarray,
    m: np.ndarray,
    add: Any = np.add,
    maximum: Any = np.maximum,
    subtract: Any = np.subtract,
    exp: Any = np.exp,
) -> None:
    """One step's log-sum-exp, up to its log: ``w_i = exp(a_i - m)`` for the three predecessors
    ``a1, a2, a3 + pen`` of every cell (``w`` holds ``w0, w1, w2``), ``m`` their maximum and
    ``s`` their sum, so that ``w_i / s`` is the local softmax. Plain same-shape ufunc calls
    (broadcasting ones are several times slower here), the ufuncs bound as defaults (local
    names: at small sizes the lookups of ``np.add`` and friends cost 5% of the forward)."""
    add(a3, pen, w2)
    maximum(a1, a2, out=m)
    maximum(m, w2, out=m)
    subtract(a1, m, w0)
    subtract(a2, m, w1)
    subtract(w2, m, w2)
    exp(w, out=w)
    add(w0, w1, s)
    add(s, w2, s)


def _row_views(alpha: np.ndarray, keep: bool) -> Iterator[tuple[np.ndarray, ...]]:
    """Per step ``k = 1, 2, ...``: the three predecessor views of row ``k - 1`` (shifted by 0,
    1 and 2 cells), the written part of row ``k`` and row ``k`` itself; without ``keep`` the
    two rows of ``alpha`` alternate (the sequence never ends)."""
    a1, a2, a3 = alpha[:, 2:], alpha[:, 1:-1], alpha[:, :-2]
    if keep:
        return zip(a1[:-1], a2[:-1], a3[:-1], a1[1:], alpha[1:], strict=True)
    return itertools.cycle(
        [(a1[0], a2[0], a3[0], a1[1], alpha[1]), (a1[1], a2[1], a3[1], a1[0], alpha[0])]
    )


def _weight_views(
    tape: np.ndarray | None, steps: range, size: int, dt: Any
) -> Iterator[tuple[np.ndarray, ...]]:
    """Per step: where its weights go (``w0, w1, w2`` together, then each, then ``s``): the
    step's row of the tape, or one scratch buffer used by every step (never ends)."""
    if tape is not None:
        rows = tape[steps.start : steps.stop : steps.step]
        return zip(rows[:, :3], *rows.transpose(1, 0, 2), strict=True)
    w = np.empty((4, size), dt)
    return itertools.repeat((w[:3], *w))


class _Lattice:
    """The extended-label lattice of a contiguous slice of the batch.

    ``labels`` is ``(n, L)`` int64 with the positions past each target length already set to
    ``blank``; the extended sequence is ``blank, l1, blank, l2, ..., blank`` (``S = 2L + 1``
    states), stored with two padding cells in front (``W = S + 2`` cells per sample).
    """

    def __init__(
        self, labels: np.ndarray, il: np.ndarray, tl: np.ndarray, blank: int, C: int
    ) -> None:
        n, L = labels.shape
        S = 2 * L + 1
        W = S + 2
        self.n, self.W, self.C, self.il, self.tl = n, W, C, il, tl
        ext = np.full((n, S), blank, np.int64)
        ext[:, 1::2] = labels
        valid = np.arange(S) <= 2 * tl[:, None]
        # gather index into rows of n * C log-probs and one impossible cell (index n * C), which
        # the padding cells and the states past a target's end read
        idx = np.full((n, W), n * C, np.int64)
        idx[:, 2:] = np.where(valid, np.arange(n)[:, None] * C + ext, n * C)
        self.index = idx.ravel()
        # a label may follow the label two states back when they differ (never for blanks)
        skip = np.zeros((n, W), bool)
        skip[:, 5::2] = (ext[:, 3::2] != ext[:, 1:-2:2]) & valid[:, 3::2]
        self.skip = skip.ravel()[2:]
        self.labels, self.blank, self.ext, self.valid = labels, blank, ext, valid
        self.final = np.arange(n) * W + 2 + 2 * tl  # the last blank; the last label is one before

    def _emissions(self, lp: np.ndarray, start: int) -> Iterator[np.ndarray]:
        """The per-cell log-probabilities of rows ``start, ..., T - 1``, clamped at the
        impossible value: gathered a block of rows at a time (through a scratch copy of the
        log-probs with one impossible cell appended to each row), yielded one row at a time."""
        T, n, C = lp.shape
        dt = lp.dtype
        block = max(1, _GATHER_BLOCK // self.index.size)
        buf = np.full((min(block, T - start), n * C + 1), _NEG[dt], dt)
        E = np.empty((buf.shape[0], self.index.size), dt)
        for t0 in range(start, T, block):
            b = min(T - t0, block)
            rows = lp[t0 : t0 + b].reshape(b, -1)  # a view when the slice's rows are contiguous
            np.maximum(rows, buf[0, -1], out=buf[:b, :-1])
            yield from np.take(buf[:b], self.index, axis=1, out=E[:b], mode="clip")

    def forward(self, lp: np.ndarray, keep: bool, taped: bool) -> tuple[np.ndarray, Any]:
        """Negative log-likelihood per sample and, with ``keep``, what backward needs: the
        weights of every step ``(T, 4, n W - 2)`` (see ``_weights``) when ``taped``, else
        the log-alpha lattice ``(T, n W)`` to recompute them from (otherwise two alternating
        rows of alpha are enough)."""
        T, n, C = lp.shape
        dt = lp.dtype
        neg = dt.type(_NEG[dt])
        N = n * self.W
        pen = np.where(self.skip, dt.type(0), neg)
        whole = keep and not taped
        alpha = np.empty((T if whole else 2, N), dt)
        alpha[:, :2] = alpha[0] = neg
        emissions = self._emissions(lp, 0)
        alpha[0].reshape(n, self.W)[:, 2:4] = next(emissions).reshape(n, self.W)[:, 2:4]
        ends = _by_last_frame(self.il, self.il > 0)
        last = np.full((2, n), neg, dt)
        if 0 in ends:
            self._capture(last, alpha[0], ends[0])
        tape = np.empty((T, 4, N - 2), dt) if keep and taped else None
        m = np.empty(N - 2, dt)
        steps = zip(
            range(1, T),
            _row_views(alpha, whole),
            _weight_views(tape, range(1, T), N - 2, dt),
            emissions,
            strict=False,  # two alternating row views unless whole
        )
        add, log = np.add, np.log
        for k, (a1, a2, a3, cur, row), (w, w0, w1, w2, s), e in steps:
            _weights(a1, a2, a3, pen, w, w0, w1, w2, s, m)
            add(m, e[2:], m)
            log(s, cur)
            add(cur, m, cur)
            if k in ends:  # some samples end here: read their two final states
                self._capture(last, row, ends[k])
        ll = np.logaddexp(last[0], last[1])
        possible = (ll > neg / 2) & (self.il > 0)
        nll = np.where(possible, -ll, np.where((self.il == 0) & (self.tl == 0), -0.0, np.inf))
        seed = np.exp(last - ll) if keep else None
        return nll.astype(dt), (alpha if whole else None, tape, seed, possible) if keep else None

    def _class_groups(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The label states as (flat class index, flat cell) groups in which no (sample, class)
        repeats, so that each group is one fancy-index subtraction (repeated labels of a
        sample fall into successive groups)."""
        b, j = np.nonzero(np.arange(self.labels.shape[1]) < self.tl[:, None])
        key = b * self.C + self.labels[b, j]
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        pos = np.arange(order.size)
        rank = np.empty_like(order)
        rank[order] = pos - np.maximum.accumulate(np.where(first, pos, 0))
        cells = b * self.W + 3 + 2 * j
        ranks = range(int(rank.max(initial=-1)) + 1)
        return [(key[rank == r], cells[rank == r]) for r in ranks]

    def _capture(self, last: np.ndarray, row: np.ndarray, r: np.ndarray) -> None:
        """Read the last blank and the last label of samples whose input ends at this row."""
        last[0, r] = row[self.final[r]]
        r = r[self.tl[r] > 0]
        last[1, r] = row[self.final[r] - 1]

    def _seed(self, row: np.ndarray, r: np.ndarray, seed: np.ndarray) -> None:
        """The posterior at each sample's last frame: the two final states, weighted by their
        share of the likelihood."""
        row[self.final[r]] += seed[0, r]
        r = r[self.tl[r] > 0]
        row[self.final[r] - 1] += seed[1, r]

    def backward(
        self, lp: np.ndarray, saved: Any, gr: np.ndarray, out: np.ndarray, zero_infinity: bool
    ) -> None:
        """Write torch's gradient ``(exp(lp) - posterior) * gr`` for this slice into ``out``.

        Without a tape the posterior overwrites the log-alpha lattice row by row, from the last
        frame back: row ``k - 1`` of alpha is read (to recompute the weights of step ``k``)
        just before it receives the posterior of frame ``k - 1``.
        """
        alpha, tape, seed, possible = saved
        T, n, C = lp.shape
        dt = lp.dtype
        N = n * self.W
        post = alpha if tape is None else np.zeros((T, N), dt)
        pen = np.where(self.skip, dt.type(0), dt.type(_NEG[dt]))
        starts = _by_last_frame(self.il, possible)
        u = np.empty(N - 2, dt)
        post[T - 1] = 0
        steps = zip(
            range(T - 1, 0, -1),
            post[:0:-1, 2:],
            post[-2::-1, 2:],
            post[-2::-1, 1:-1],
            post[-2::-1, :-2],
            _weight_views(tape, range(T - 1, 0, -1), N - 2, dt),
            strict=False,  # the weight views run on without a tape
        )
        div, mul, add = np.divide, np.multiply, np.add
        for k, g, p0, p1, p2, (w, w0, w1, w2, s) in steps:
            if k in starts:
                self._seed(post[k], starts[k], seed)
            if tape is None:  # the weights of step k, from alpha_{k-1} (still in row k - 1)
                _weights(p0, p1, p2, pen, w, w0, w1, w2, s, u)
            # gamma_{k-1}(s - i) += w_i(k, s) / s(k, s) * gamma_k(s), over alpha_{k-1} (its
            # first two cells, padding that nothing reads, keep a negligible sum on top of it)
            div(g, s, u)
            mul(w0, u, p0)
            mul(w1, u, w1)
            add(p1, w1, p1)
            mul(w2, u, w2)
            add(p2, w2, p2)
        if 0 in starts:
            self._seed(post[0], starts[0], seed)
        np.exp(lp, out=out)
        if post.size * C <= _ONEHOT_MACS:  # small: one batched product with a one-hot matrix
            onehot = np.zeros((n, self.W, C), dt)
            vb, vs = np.nonzero(self.valid)
            onehot[vb, vs + 2, self.ext[vb, vs]] = 1
            by_sample = post.reshape(T, n, self.W).transpose(1, 0, 2)
            out -= np.matmul(by_sample, onehot).transpose(1, 0, 2)
        else:  # blanks summed per sample, labels scattered group by group, a block of rows at once
            flat = out.view()
            flat.shape = (T, n * C)  # a view: raises rather than copy
            blank_cols = np.arange(n) * C + self.blank
            groups = self._class_groups()
            block = max(1, _SCATTER_BLOCK // max(N // 2, 1))
            for t0 in range(0, T, block):
                rows, part = flat[t0 : t0 + block], post[t0 : t0 + block]
                rows[:, blank_cols] -= part.reshape(-1, n, self.W)[:, :, 2::2].sum(-1)
                for keys, cells in groups:
                    rows[:, keys] -= part[:, cells]
        out *= gr[:, None]
        if lp.min(initial=np.inf) == -np.inf:  # torch: exp(-inf) - exp(-inf + nll + inf) is NaN
            out[np.isneginf(lp)] = np.nan
        for b in np.flatnonzero((self.il < T) | ~possible):
            if possible[b]:
                out[self.il[b] :, b] = 0
            elif zero_infinity:
                out[:, b] = 0
            else:
                out[: self.il[b], b] = np.nan
                out[self.il[b] :, b] = 0


def _slices(N: int, W: int) -> list[slice]:
    """Contiguous batch slices, one per thread when each gets rows of at least
    ``_PARALLEL_ROW`` cells: on shorter rows the threads mostly wait for each other's
    turn with the interpreter between NumPy calls (one thread is faster there)."""
    workers = min(_parallel.get_num_threads(), N, N * W // _PARALLEL_ROW)
    if workers < 2:
        return [slice(0, N)]
    bounds = np.linspace(0, N, workers + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class _CtcLoss(ArrayFunction):
    """CTC negative log-likelihood per sample, shape (N,) (``reduction='none'``).

    The subclasses below fuse torch's reduction into the same node, with torch's arithmetic
    (``where(l == inf, 0, l)`` for ``zero_infinity``, then ``(l / clamp(tl, 1)).mean()`` or
    ``l.sum()``) and the name of torch's outermost node: at small sizes the two extra graph
    nodes would cost a tenth of the whole call.
    """

    node_name = "CtcLossBackward0"

    @staticmethod
    def forward(
        ctx: Any,
        lp: np.ndarray,
        labels: np.ndarray,
        il: np.ndarray,
        tl: np.ndarray,
        blank: int,
        zero_infinity: bool,
        reduction: str,
    ) -> np.ndarray:
        T, N, C = lp.shape
        keep = bool(ctx.needs_input_grad[0])
        parts = _slices(N, 2 * labels.shape[1] + 3)
        lattices = [_Lattice(labels[p], il[p], tl[p], blank, C) for p in parts]
        taped = T * N * (2 * labels.shape[1] + 3) <= _TAPE_CELLS
        results = _parallel.map_parts(
            lambda i: lattices[i].forward(lp[:, parts[i]], keep, taped), len(parts)
        )
        nll = np.concatenate([r[0] for r in results]) if len(parts) > 1 else results[0][0]
        ctx.lattices, ctx.parts, ctx.taped, ctx.consumed = lattices, parts, taped, False
        ctx.meta = (labels, il, tl, blank, zero_infinity, reduction)
        if keep:  # the lattices are saved as constants: freed after backward, like torch's buffers
            ctx.save_for_backward(lp, *(w for r in results for w in r[1]))
        if zero_infinity and _reduction.reduces(reduction):  # unreduced: a where after the node
            nll = np.where(nll == np.inf, nll.dtype.type(0), nll)
        return _reduction.reduce_per_sample(nll, reduction, tl)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        lp_t, *saved = ctx.saved_tensors
        lp = lp_t._data
        T, N, _ = lp.shape
        labels, il, tl, blank, zero_infinity, reduction = ctx.meta
        gr = _reduction.per_sample_grad(g, reduction, N, tl)
        out = np.empty(lp.shape, lp.dtype)  # C order: its slices are viewed as (T, n * C)
        parts, lattices, grd = ctx.parts, ctx.lattices, gr._data
        if ctx.consumed:  # a second backward (retain_graph): the first overwrote what was saved
            results = _parallel.map_parts(
                lambda i: lattices[i].forward(lp[:, parts[i]], True, ctx.taped), len(parts)
            )
            tapes = [r[1] for r in results]
        else:
            arrays = [None if t is None else t._data for t in saved]
            tapes = [tuple(arrays[4 * i : 4 * i + 4]) for i in range(len(parts))]
            ctx.consumed = True
        _parallel.map_parts(
            lambda i: lattices[i].backward(
                lp[:, parts[i]], tapes[i], grd[parts[i]], out[:, parts[i]], zero_infinity
            ),
            len(parts),
        )
        if grad_mode.is_grad_enabled():  # create_graph=True: a differentiable gradient
            return _differentiable_grad(lp_t, gr, out, ctx.meta), *(None,) * 6
        return Tensor._make(out), *(None,) * 6


class _CtcLossSum(_CtcLoss):
    node_name = "SumBackward0"


class _CtcLossMean(_CtcLoss):
    node_name = "MeanBackward0"


class _WithValue(ArrayFunction):
    """``value`` as the forward result, gradient passed straight to ``x``: the exact first-order
    values of the fused kernel on top of the derivatives of the composite graph."""

    node_name = "CtcLossBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, value: np.ndarray) -> np.ndarray:
        return value

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return g, None


def _log_likelihood(
    lp: Tensor, labels: np.ndarray, il: np.ndarray, tl: np.ndarray, blank: int
) -> Tensor:
    """log p(l|x) per sample as a recorded graph of lossgrad ops (the alpha recursion, vectorized
    over batch and states, with logsumexp over the three predecessors at each time step)."""
    T, N, C = lp._data.shape
    dt = lp._data.dtype
    neg = _NEG[dt]
    L = labels.shape[1]
    S = 2 * L + 1
    ext = np.full((N, S), blank, np.int64)
    ext[:, 1::2] = labels
    valid = np.arange(S) <= 2 * tl[:, None]
    index = np.repeat((np.arange(N)[:, None] * C + ext).reshape(1, -1), T, axis=0)
    E = reshape(reshape(lp, (T, N * C)).gather(1, Tensor._make(index)), (T, N, S))
    E = where(Tensor._make(np.broadcast_to(valid, (T, N, S))), clamp_min(E, neg), neg)
    skip = np.zeros((N, S), bool)
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    pen = Tensor._make(np.where(skip, 0.0, neg).astype(dt))
    pad1, pad2 = (
        Tensor._make(np.full((N, 1), neg, dt)),
        Tensor._make(np.full((N, min(S, 2)), neg, dt)),
    )
    start = np.zeros((N, S), bool)
    start[:, :2] = True
    alpha = where(Tensor._make(start), E[0], neg)
    for t in range(1, T):
        a2 = cat([pad1, alpha[:, :-1]], 1)
        a3 = cat([pad2, alpha[:, : S - pad2.shape[1]]], 1) + pen  # S = 1: all targets empty
        new = logsumexp(stack([alpha, a2, a3]), 0) + E[t]
        active = il > t
        alpha = new if active.all() else where(Tensor._make(active[:, None]), new, alpha)
    rows = np.arange(N)
    last_label = where(Tensor._make(tl > 0), alpha[rows, np.maximum(2 * tl - 1, 0)], neg)
    return logsumexp(stack([alpha[rows, 2 * tl], last_label]), 0)


def _differentiable_grad(lp: Tensor, g: Tensor, value: np.ndarray, meta: tuple[Any, ...]) -> Tensor:
    """The gradient ``g * (exp(lp) - posterior)`` as a graph: the posterior is the gradient of
    the composite log-likelihood, taken with ``create_graph=True``."""
    labels, il, tl, blank = meta[:4]
    T = lp._data.shape[0]
    keep = (np.arange(T)[:, None] < il) & (il > 0)
    ll = _log_likelihood(lp, labels, il, tl, blank)
    keep &= ll._data > _NEG[lp._data.dtype] / 2
    (post,) = grad(ll, lp, g, create_graph=True)
    graph = sub(mul(exp(lp), reshape(g, (1, -1, 1))), post)
    graph = mul(graph, Tensor._make(keep[:, :, None].astype(value.dtype)))
    return _WithValue.apply(graph, value)


def _lattice_loss(lp: Tensor, *args: Any) -> Tensor:
    """The fused op of the reduction (the last of ``args``); float32 log-probabilities with a
    value the float32 lattice cannot tell from impossible are computed in float64 (where -1e30
    is an ordinary log-probability) and the loss cast back."""
    fn = {"none": _CtcLoss, "sum": _CtcLossSum, "mean": _CtcLossMean}[args[-1]]
    if lp._data.dtype == np.float32 and _tells_apart_only_in_float64(lp._data):
        return fn.apply(lp.double(), *args).float()
    return fn.apply(lp, *args)


def _tells_apart_only_in_float64(lp: np.ndarray) -> bool:
    """Whether float32 log-probabilities hold a finite value at or below half the float32
    impossible value (-1e30), which the float32 lattice would take for impossible where torch
    (whose impossible is -inf) adds it up. One pass (the minimum) on ordinary inputs."""
    threshold = _NEG[lp.dtype] / 2
    if lp.size == 0 or lp.min() > threshold:
        return False
    low = lp[lp <= threshold]
    return bool(np.isfinite(low).any())


def _lengths(value: Any, name: str, n: int) -> np.ndarray:
    """Lengths given as a Tensor (any integral dtype) or a sequence of ints, as int64 (n,)."""
    if isinstance(value, Tensor):
        arr = value._data
        if arr.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral")
    else:
        for v in value:
            if (
                not isinstance(v, (int, np.integer, Tensor))
                or isinstance(v, bool)
                or (isinstance(v, Tensor) and (v._data.dtype.kind not in "iu" or v._data.size != 1))
            ):
                raise TypeError(f"ctc_loss(): {name} must be ints or a Tensor, got {value!r}")
        arr = np.asarray([int(v) for v in value], np.int64)
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size != n:
        raise RuntimeError(f"{name} must be of size batch_size")
    return arr


def _check_at_least_zero(values: np.ndarray, name: str) -> None:
    if (values < 0).any():
        raise RuntimeError(
            f"Expected {name} to have value at least 0, but got value {values.min()} "
            "(while checking arguments for ctc_loss_allocate_outputs)"
        )


def _size_error(size: Any, dim: int, got: int) -> RuntimeError:
    return RuntimeError(
        f"Expected tensor to have size {size} at dimension {dim}, but got size {got} for "
        "argument #2 'targets' (while checking arguments for ctc_loss_allocate_outputs)"
    )


def _padded_labels(targets: np.ndarray, tl: np.ndarray, C: int, blank: int) -> np.ndarray:
    """Targets (padded (N, S) or concatenated 1-D) as an (N, max(tl)) int64 array, ``blank``
    past each length; sizes and values validated (torch's messages)."""
    N = tl.shape[0]
    L = int(tl.max(initial=0))
    j = np.arange(L)
    inside = j < tl[:, None]
    if targets.ndim == 1:
        total = int(tl.sum())
        if targets.shape[0] != total:
            raise _size_error(total, 0, targets.shape[0])
        start = np.cumsum(tl) - tl
        where_ = np.minimum(start[:, None] + j, max(total - 1, 0))
        labels = np.where(inside, targets[where_].astype(np.int64) if total else 0, blank)
    else:
        if targets.shape[0] != N:
            raise _size_error(N, 0, targets.shape[0])
        if targets.shape[1] < L:
            raise _size_error(f"at least {L}", 1, targets.shape[1])
        labels = np.where(inside, targets[:, :L].astype(np.int64), blank)
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        raise IndexError(f"Target {labels[bad][0]} is out of bounds.")
    return labels


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss (Graves et al., 2006).

    Unreduced: ``l_n = -log sum_{pi in B^-1(y_n)} prod_t p_t(pi_t)``, the negative log of the
    total probability of every alignment ``pi`` of length ``input_lengths[n]`` that collapses
    (merge repeats, drop blanks) to the target ``y_n``.

    Gradient (torch's form): ``d l_n / d log_probs[t, n, c] = exp(log_probs[t, n, c]) -
    gamma_n(t, c)``, where ``gamma`` is the posterior probability that an alignment emits class
    ``c`` at time ``t``, and 0 for ``t >= input_lengths[n]``. The true gradient is ``-gamma``;
    the two agree after a ``log_softmax`` backward (the ``exp`` term sums to one over classes),
    which is how CTC is used.

    Args:
        log_probs: ``(T, N, C)`` or unbatched ``(T, C)`` log-probabilities (from
            ``log_softmax``), float32 or float64.
        targets: padded ``(N, S)`` or concatenated 1-D of length ``sum(target_lengths)``; any
            integer dtype (int32 and int64 alike). Class indices, ``blank`` excluded.
        input_lengths: ``(N)`` Tensor or a tuple/list of ints, each ``<= T``.
        target_lengths: ``(N)`` Tensor or a tuple/list of ints (the same kind as
            ``input_lengths``).
        blank: the blank label. Default 0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. ``'mean'`` divides each loss by its
            target length (at least 1), then averages over the batch. Default ``'mean'``.
        zero_infinity: replace infinite losses (impossible alignments) and their gradients by 0.

    Returns:
        The loss: a scalar, or ``(N)`` (``()`` unbatched) for ``reduction='none'``.

    Note:
        As in torch: a target that no alignment of the given input length can produce (too
        long, or repeated labels without room for a blank between them) gives ``+inf`` and a
        NaN gradient, or 0 and a zero gradient with ``zero_infinity=True``; ``-inf`` entries of
        ``log_probs`` get a NaN gradient; an empty input and target give 0. Unlike torch (which
        reads out of bounds), a target outside ``[0, C)`` raises IndexError.
        Second derivatives, which torch does not implement, are supported: when the gradient
        is taken with ``create_graph=True`` its value still comes from the fused kernel, and
        its graph is the derivative of torch's first-derivative form ``exp(lp) - gamma``
        (the posterior recomputed as the gradient of a composite log-space alpha recursion).
        Through a ``log_softmax`` this is the exact Hessian of the loss.

    Example:
        >>> import lossgrad as torch
        >>> lp = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log().unsqueeze(1)
        >>> torch.nn.functional.ctc_loss(lp, torch.tensor([[1]]), [2], [1], reduction='sum')
        tensor(0.2877)
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(log_probs, "log_probs")
    lengths = (input_lengths, target_lengths)
    as_tensors = all(isinstance(v, Tensor) for v in lengths)
    if not isinstance(targets, Tensor) or not (
        as_tensors or all(isinstance(v, (list, tuple)) for v in lengths)
    ):
        got = ", ".join(type(a).__name__ for a in (log_probs, targets, *lengths))
        raise TypeError(
            f"ctc_loss() received an invalid combination of arguments - got ({got}), but "
            "expected (Tensor log_probs, Tensor targets, tuple of ints input_lengths, tuple of "
            "ints target_lengths) or (Tensor, Tensor, Tensor input_lengths, Tensor target_lengths)"
        )
    dt = log_probs._data.dtype
    if dt not in _NEG:
        name = _checks.scalar_type_name(dt)
        raise NotImplementedError(f"\"ctc_loss_cpu\" not implemented for '{name}'")
    batched = log_probs.dim() == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    if lp.dim() != 3:
        raise RuntimeError(
            f"Expected 3-dimensional tensor, but got {lp.dim()}-dimensional tensor for argument "
            "#1 'log_probs' (while checking arguments for ctc_loss_allocate_outputs)"
        )
    if lp._data.size == 0:
        raise RuntimeError("log_probs tensor must not be empty")
    T, N, C = lp._data.shape
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    il = _lengths(input_lengths, "input_lengths", N)
    tl = _lengths(target_lengths, "target_lengths", N)
    if not 1 <= targets.dim() <= 2:
        raise RuntimeError(
            f"Expected 1 to 2 dimensions, but got {targets.dim()}-dimensional tensor for "
            "argument #2 'targets' (while checking arguments for ctc_loss_allocate_outputs)"
        )
    _check_at_least_zero(tl, "target_lengths")
    labels = _padded_labels(targets._data, tl, C, blank)
    _check_at_least_zero(il, "input_lengths")
    if (il > T).any():
        raise RuntimeError(
            f"Expected input_lengths to have value at most {T}, but got value {il.max()} "
            "(while checking arguments for ctc_loss_allocate_outputs)"
        )
    padding = np.arange(T)[:, None] >= il
    if padding.any() and not np.isfinite(lp._data[padding]).all():
        # frames past a sequence's input length are never read: NaN or inf there must not
        # reach the lattice (or a gradient), so they are replaced, differentiably, by 0
        lp = where(Tensor._make(padding[:, :, None]), 0.0, lp)
    loss = _lattice_loss(lp, labels, il, tl, blank, bool(zero_infinity), reduction)
    if _reduction.reduces(reduction):
        return loss
    if zero_infinity:
        loss = where(loss == float("inf"), 0.0, loss)
    return loss if batched else loss.squeeze(0)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
