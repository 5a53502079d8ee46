"""DistributedDataParallel: one model replica per rank, gradients averaged over the ranks.

How it works, as in torch: at construction the ranks check that their models have the same
parameter names, shapes and dtypes, and rank 0's parameters and buffers are broadcast to all.
The parameters are grouped, in reverse registration order (the order in which a backward
usually finishes them), into buckets of at most ``bucket_cap_mb``; a parameter of 1 MiB or more
has a bucket of its own (unless ``gradient_as_bucket_view``). A post-accumulate-grad hook on
each parameter divides its gradient by the world size into the bucket's flat array; a parameter
alone in its bucket is reduced in its own gradient's array instead (no copy; a gradient that is
not contiguous goes through a flat array too). When the last gradient of a bucket has arrived,
the bucket's non-blocking all-reduce (``MPI_Iallreduce``, SUM) starts, buckets always in the
same order on every rank, in pieces of at most 8 MiB; a gradient reduced in its own array is
divided piece by piece, just before the piece's all-reduce, so that MPI reads the piece from
the cache (the division is then no second pass over memory). When every bucket has started, the
hook waits for them and copies each averaged slice of a flat array into the parameter's own
``.grad``, as torch does (with ``gradient_as_bucket_view``, ``.grad`` is the slice itself).
After ``loss.backward()`` returns, every rank holds the average of the ranks' gradients.

The engine runs a parameter's post-accumulate-grad hooks as soon as its gradient is final
(after the last node that contributes to it, as torch's AccumulateGrad), so a bucket's
all-reduce starts while the backward still runs the layers below it; the last hook waits for
them all. MPI moves a non-blocking collective on in the calls that follow it (there is no
progress thread by default), so on one machine the overlap is mainly in the scheduling: the
results are the same, bit for bit, as all-reducing after the backward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from lossgrad import distributed as dist
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.distributed import _core
from lossgrad.nn.modules.module import Module
from lossgrad.nn.parameter import Parameter

_DEFAULT_BUCKET_CAP_MB = 25
#: A parameter at least this large is reduced alone, in its own gradient's array: copying it
#: into a shared bucket costs more than the one more MPI call saves.
_OWN_BUCKET_BYTES = 2**20
#: A bucket is all-reduced in pieces of at most this size: a piece fits in the cache (divided
#: just before MPI reads it), and MPI's temporary buffers stay small enough to be reused.
_PIECE_BYTES = 8 * 2**20
#: Starting a piece waits for the oldest ones while more than this is in flight before it:
#: the last pieces are still in the cache when MPI moves them, and few collectives run at once
#: (all 48 pieces of a 400 MB gradient in flight at once measured 0.67 of one ``Allreduce``,
#: two or three at a time 1.1 to 1.2; ten gradients of 1.6 MB, 8 MiB at a time instead of
#: 16, 0.9 of all at once).
_IN_FLIGHT_BYTES = 16 * 2**20


class _Bucket:
    """Parameters of one dtype whose gradients are reduced together through one flat array
    (made on first use: a parameter alone in its bucket is usually reduced in its own
    gradient's array, and needs none)."""

    def __init__(self, params: list[Parameter]) -> None:
        self.params = params
        self.dtype = params[0]._data.dtype
        self.flat: np.ndarray | None = None
        self.views: list[np.ndarray] = []
        self.pending = len(params)
        self.reduced: np.ndarray | None = None  # this round's array: ``flat`` or the gradient's

    def view(self, index: int) -> np.ndarray:
        """The slice of the flat array that holds the gradient of ``params[index]``."""
        if self.flat is None:
            self.flat = np.zeros(sum(p._data.size for p in self.params), self.dtype)
            offset = 0
            for p in self.params:
                self.views.append(self.flat[offset : offset + p._data.size].reshape(p._data.shape))
                offset += p._data.size
        self.reduced = self.flat
        return self.views[index]

    def in_place(self, grad: Tensor | None) -> np.ndarray | None:
        """The gradient's own array when this bucket may reduce it there (no copy): the bucket
        holds one parameter, and the array is contiguous, writeable, of the bucket's dtype."""
        if len(self.params) != 1 or grad is None or grad.grad_fn is not None:
            return None
        data = grad._data
        flags = data.flags
        if data.dtype != self.dtype or not (flags.c_contiguous and flags.writeable):
            return None
        self.reduced = data
        return data


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group (torch's DistributedDataParallel).

    Each rank runs the wrapped ``module`` on its own share of the batch; after ``backward()``
    every parameter's ``.grad`` holds the mean over the ranks of their gradients, so an
    optimizer step keeps the replicas identical. With each rank's loss a mean over an equal
    share of the batch, that is the gradient of the mean over the whole batch. For shares that
    differ (ragged ignored targets, gradient accumulation), see ``lossgrad.distributed.ExactMean``.

    Args:
        module: the model to replicate.
        device_ids, output_device, dim: accepted for torch's signature (CPU only).
        broadcast_buffers: broadcast rank 0's buffers at each forward (default True).
        init_sync: check the models and broadcast rank 0's parameters at construction.
        process_group: the ranks to average over (the default group if None).
        bucket_cap_mb: the largest bucket, in MiB (default 25, as torch).
        find_unused_parameters: walk the output's graph after each forward and count the
            parameters it does not reach as ready (a zero gradient), so the reduction completes.
        gradient_as_bucket_view: put every parameter's gradient in a shared bucket (no
            parameter of 1 MiB or more reduced alone), as torch: from the first synchronized
            backward on, each ``.grad`` is a view into its bucket, so with
            ``zero_grad(set_to_none=False)`` the backward accumulates the gradients straight
            into the buckets, and the all-reduce divides them in place and reduces a few large
            pieces, with no copy. (Without it, a gradient of 1 MiB or more is averaged in its
            own array, the others through their bucket's flat array, from which each is
            copied back into its own ``.grad``.)
        **kwargs: torch's other options, accepted and ignored.

    Raises:
        RuntimeError: the module has no parameter requiring a gradient, or the ranks' models
            differ in parameter count, name, shape or dtype.

    Example:
        >>> import lossgrad as torch, lossgrad.distributed as dist
        >>> from lossgrad.nn.parallel import DistributedDataParallel as DDP
        >>> dist.init_process_group("mpi")   # one rank without mpiexec: gradients unchanged
        >>> model = DDP(torch.nn.Linear(3, 1))
        >>> model(torch.ones(2, 3)).sum().backward()
        >>> model.module.bias.grad
        tensor([2.])
        >>> list(model.state_dict())
        ['module.weight', 'module.bias']
        >>> dist.destroy_process_group()
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool | None = None,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.module = module
        self.process_group = _core._group(process_group)
        self.broadcast_buffers = True if broadcast_buffers is None else broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any "
                "parameter that requires a gradient."
            )
        self._check_same_model(module)
        if init_sync:
            for _, tensor in [*module.named_parameters(), *module.named_buffers()]:
                dist.broadcast(tensor, src=self.process_group._ranks[0], group=self.process_group)
        cap = (_DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * 2**20
        own = float("inf") if gradient_as_bucket_view else _OWN_BUCKET_BYTES
        self._buckets = self._make_buckets([p for _, p in reversed(named)], cap, own)
        self._slot: dict[int, tuple[_Bucket, int]] = {}
        for bucket in self._buckets:
            for index, p in enumerate(bucket.params):
                self._slot[id(p)] = (bucket, index)
                p.register_post_accumulate_grad_hook(self._grad_ready)
        self._expect_hooks = False
        self._ready: set[int] = set()
        self._unused: set[int] = set()
        self._next_bucket = 0
        self._requests: list[Any] = []  # this round's all-reduces of bucket pieces
        self._in_flight: list[int] = []  # the sizes of the last pieces, not yet waited for

    # -- construction ------------------------------------------------------------------------------

    def _check_same_model(self, module: Module) -> None:
        """Compare every rank's (name, shape, dtype) list; a clear error on the first difference."""
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
        pg = self.process_group
        everyone = pg._comm.allgather(mine)  # once, at construction: pickling is fine here
        rank = pg.rank()
        for other_rank, theirs in enumerate(everyone):
            if len(theirs) != len(mine):
                raise RuntimeError(
                    f"DistributedDataParallel expects same model across all ranks, but Rank "
                    f"{rank} has {len(mine)} params, while rank {other_rank} has inconsistent "
                    f"{len(theirs)} params."
                )
            for index, (ours, other) in enumerate(zip(mine, theirs)):
                if ours != other:
                    raise RuntimeError(
                        f"DistributedDataParallel expects same model across all ranks: params"
                        f"[{index}] is {ours[0]!r} with sizes {list(ours[1])} ({ours[2]}) in "
                        f"rank {rank} but {other[0]!r} with sizes {list(other[1])} ({other[2]}) "
                        f"in rank {other_rank}."
                    )

    @staticmethod
    def _make_buckets(
        params: list[Parameter], cap_bytes: float, own_bytes: float = _OWN_BUCKET_BYTES
    ) -> list[_Bucket]:
        """Consecutive parameters of one dtype, at most ``cap_bytes`` a bucket; a parameter of
        ``own_bytes`` or more has a bucket of its own (no copy, see ``_Bucket``)."""
        buckets: list[_Bucket] = []
        open_: dict[np.dtype, list[Parameter]] = {}
        sizes: dict[np.dtype, int] = {}
        for p in params:
            dtype = p._data.dtype
            group = open_.setdefault(dtype, [])
            alone = p._data.nbytes >= own_bytes
            if group and (alone or sizes[dtype] + p._data.nbytes > cap_bytes):
                buckets.append(_Bucket(group))
                group = open_[dtype] = []
                sizes[dtype] = 0
            if alone:
                buckets.append(_Bucket([p]))
                continue
            group.append(p)
            sizes[dtype] = sizes.get(dtype, 0) + p._data.nbytes
        buckets.extend(_Bucket(group) for group in open_.values() if group)
        return buckets

    # -- forward ----------------------------------------------------------------------------------

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._expect_hooks and self._ready:
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`."
            )
        sync = grad_mode.is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers:
            for buffer in self.module.buffers():
                dist.broadcast(buffer, src=self.process_group._ranks[0], group=self.process_group)
        if sync:
            self._start_round()
        output = self.module(*inputs, **kwargs)
        if sync and self.find_unused_parameters:
            self._mark_unused(output)
        return output

    def _start_round(self) -> None:
        self._expect_hooks = True
        self._ready = set()
        self._unused = set()
        self._next_bucket = 0
        for bucket in self._buckets:
            bucket.pending = len(bucket.params)

    def _mark_unused(self, output: Any) -> None:
        """Count the parameters that ``output``'s graph does not reach as ready now."""
        outputs = _tensors_in(output)
        reached = {id(t) for t in outputs if t.grad_fn is None}
        stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for edge in node.next_edges:
                if edge:
                    if isinstance(edge[0], Tensor):
                        reached.add(id(edge[0]))
                    else:
                        stack.append(edge[0])
        self._unused = {id(p) for b in self._buckets for p in b.params if id(p) not in reached}
        for bucket in self._buckets:
            for p in bucket.params:
                if id(p) in self._unused:
                    self._grad_ready(p)

    # -- backward: the bucketed all-reduce --------------------------------------------------------

    def _grad_ready(self, param: Parameter) -> None:
        """The post-accumulate-grad hook: ``param.grad`` is final for this backward."""
        if not self._expect_hooks:
            return
        if id(param) in self._ready:
            raise RuntimeError(
                "Expected to mark a variable ready only once. This error is caused by a "
                "parameter receiving gradients twice in one iteration (a second backward "
                "through the same forward, or a parameter used in two DDP forwards)."
            )
        self._ready.add(id(param))
        bucket, index = self._slot[id(param)]
        size = self.process_group.size()
        grad = param._grad
        if bucket.in_place(grad) is None:  # else divided piece by piece as it is reduced
            if grad is None:
                bucket.view(index).fill(0)
            else:
                np.multiply(grad._data, 1.0 / size, out=bucket.view(index), casting="unsafe")
        bucket.pending -= 1
        while self._next_bucket < len(self._buckets):
            ready = self._buckets[self._next_bucket]
            if ready.pending:
                return
            self._start_reduction(ready)
            self._next_bucket += 1
        self._finish_round()

    def _start_reduction(self, bucket: _Bucket) -> None:
        """Start the bucket's all-reduce in pieces of ``_PIECE_BYTES``, at most
        ``_IN_FLIGHT_BYTES`` in flight besides the newest (the last ones stay in flight when the
        hook returns). A gradient reduced in its own array is divided by the world size piece
        by piece, right before the piece's all-reduce: MPI then reads it from the cache instead
        of making a second pass over memory."""
        size = self.process_group.size()
        divide = bucket.reduced is not bucket.flat and size != 1
        array = bucket.reduced.reshape(-1)
        step = max(1, _PIECE_BYTES // array.itemsize)
        MPI = _core._mpi()
        for start in range(0, array.size, step):
            piece = array[start : start + step]
            if divide:
                np.multiply(piece, 1.0 / size, out=piece)
            self._requests.append(self.process_group._comm.Iallreduce(MPI.IN_PLACE, piece, MPI.SUM))
            self._in_flight.append(piece.nbytes)
            while sum(self._in_flight) - piece.nbytes > _IN_FLIGHT_BYTES:
                self._requests[-len(self._in_flight)].Wait()
                self._in_flight.pop(0)

    def _finish_round(self) -> None:
        """Wait for every bucket; give each parameter its averaged slice (a gradient reduced in
        its own array already holds the average): with ``gradient_as_bucket_view`` the slice
        itself, else copied back into the gradient's own array (torch's ``grad.copy_``; a
        ``.grad`` kept from this step is another array at the next one, after ``zero_grad()``). With
        ``find_unused_parameters``, a parameter that no rank used keeps its ``.grad`` (as torch)."""
        used_somewhere = self._globally_used()
        _core._mpi().Request.Waitall(self._requests)
        self._requests = []
        self._in_flight = []
        for bucket in self._buckets:
            if bucket.reduced is not bucket.flat:
                continue
            for p, view in zip(bucket.params, bucket.views):
                if used_somewhere is None or id(p) in used_somewhere:
                    p._grad = _averaged(p._grad, view, self.gradient_as_bucket_view)
        self._expect_hooks = False
        self._ready = set()
        self._unused = set()

    def _globally_used(self) -> set[int] | None:
        if not self.find_unused_parameters:
            return None
        params = [p for b in self._buckets for p in b.params]
        used = np.array([id(p) not in self._unused for p in params], np.int32)
        self.process_group._comm.Allreduce(_core._mpi().IN_PLACE, used, _core._mpi().MAX)
        return {id(p) for p, flag in zip(params, used) if flag}

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within this context, backward passes accumulate local gradients without all-reduce;
        the first synchronized backward after it reduces the accumulated gradients."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


def _averaged(grad: Tensor | None, view: np.ndarray, as_view: bool) -> Tensor:
    """The parameter's ``.grad`` holding its bucket slice ``view``: the slice itself with
    ``gradient_as_bucket_view``; else copied into the gradient's own array, as torch's
    ``grad.copy_(bucket_view)`` (the engine gave ``.grad`` an array of its own, which it adds
    into in place: no fresh array, whose pages are faulted in at every step), or into a new one
    where there is none (a gradient under create_graph, or none on this rank)."""
    if as_view:
        return Tensor._make(view)
    if grad is not None and grad.grad_fn is None:
        data = grad._data
        flags = data.flags
        if data.shape == view.shape and data.dtype == view.dtype and flags.writeable:
            np.copyto(data, view)
            return grad
    return Tensor._make(view.copy())


def _tensors_in(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []
