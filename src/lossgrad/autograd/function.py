"""The Function protocol: torch's spelling, Chainer's semantics.

A ``Function`` subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grads)``. Calling
``MyFn.apply(*args)`` runs ``forward`` without recording, wraps its outputs as Tensors and, when
grad mode is on and an input requires grad, records one graph node: ``ctx`` *is* that node (an
instance of the class ``MyFnBackward`` made for each Function, which is what ``grad_fn`` shows).

``backward`` receives Tensors and returns Tensors computed with lossgrad ops. The engine runs it
with grad mode set to ``create_graph``, so second derivatives need no extra code: the same
backward, recorded, is differentiated again.

Two flavours of ``forward``:

* the public ``Function`` hands ``forward`` Tensors, as torch does, so user-defined ops written
  for torch run unchanged;
* ``ArrayFunction`` (used by every built-in op) hands ``forward`` the raw arrays and expects arrays
  back, so a fused kernel pays no wrapping cost. ``ctx.save_for_backward`` takes those same arrays
  and ``ctx.saved_tensors`` gives back the Tensors they came from, graph included.

A built-in op may also define ``backward_array(ctx, *grads)``: the same first derivative on raw
arrays (``ctx._saved_arrays()`` gives the saved arrays), returning arrays or None. The engine calls
it when no graph of the backward is recorded (``create_graph=False``), skipping the Tensor wrapping
and dispatch of every op inside ``backward``; ``backward`` itself stays the definition, and is what
runs (and is differentiated again) under ``create_graph=True``.

What a forward saved is kept as ``SavedValue``s (an input, an output of the node, or a
constant, each with the version it had). A backward without ``retain_graph`` frees every node
it runs; running a freed node again raises torch's "Trying to backward through the graph a
second time" when torch's node for that op saves tensors (``Function.saves_tensors``; ops such
as add, sum or a view set it False and run again, as in torch), and reading
``ctx.saved_tensors`` of a freed node raises it always.

Every ``forward`` and every backward walk runs with NumPy's floating-point warnings off (torch
never warns about ``0 * inf`` or ``log(0)``), so an op needs no ``np.errstate`` of its own.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from numpy import asarray, generic, ndarray

from lossgrad._dtype import scalar_type_name
from lossgrad.autograd import grad_mode
from lossgrad.autograd.grad_mode import _state

# NumPy's floating-point error state, switched off around every forward and backward walk.
# NumPy >= 2 keeps it in a context variable, which we set directly (a fraction of errstate's
# cost); NumPy 1.x has seterr, whose return value serves as the token.
try:
    from numpy._core._multiarray_umath import _make_extobj
    from numpy._core._ufunc_config import _extobj_contextvar  # type: ignore[attr-defined]

    _QUIET: Any = _make_extobj(all="ignore")
    _cv_get, _cv_set, _cv_reset = (
        _extobj_contextvar.get,
        _extobj_contextvar.set,
        _extobj_contextvar.reset,
    )
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy import seterr

    _QUIET = object()

    def _cv_get() -> Any:
        return None

    def _cv_set(_quiet: Any) -> Any:
        return seterr(all="ignore")

    def _cv_reset(token: Any) -> None:
        seterr(**token)


def quiet_call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with NumPy's floating-point warnings off."""
    if _cv_get() is _QUIET:
        return fn(*args)
    token = _cv_set(_QUIET)
    try:
        return fn(*args)
    finally:
        _cv_reset(token)


class quiet:  # noqa: N801 - used like a function: ``with quiet():``
    """A block with NumPy's floating-point warnings off (ops inside skip their own switch).

    A class rather than a generator-based context manager: the engine enters one per backward,
    and this costs a fraction of ``contextlib.contextmanager``'s setup."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = None if _cv_get() is _QUIET else _cv_set(_QUIET)

    def __exit__(self, *exc_info: object) -> None:
        if self.token is not None:
            _cv_reset(self.token)


_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling backward."
)
_MODIFIED_MSG = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: {} is at version {}; expected version {} instead. Hint: enable anomaly detection "
    "to find the operation that failed to compute its gradient, with "
    "torch.autograd.set_detect_anomaly(True, check_nan=False)."
)


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# ``(node or leaf tensor, output_nr, shape, dtype)``; a slot of ``Node.next_edges`` also holds
# None (a tensor without grad) or ``()`` (not a tensor)
Edge = tuple[Any, int, tuple[int, ...], Any]
EdgeSlot = Edge | tuple[()] | None


class SavedValue(NamedTuple):
    """One value a forward saved for backward, with the version it had then.

    Three kinds, told apart by which fields are set:

    * an input: ``tensor`` is the input Tensor (given back as is, graph included), ``version``
      the value of its version counter when saved;
    * an output of the node itself: ``output_nr`` is its index, ``array`` its data,
      ``version_box`` its version counter (given back as a Tensor re-attached to the node:
      holding the node's own output Tensor would make a reference cycle);
    * a constant (an intermediate, or None): ``tensor`` is it, ``version`` is None (never
      checked).

    Made once per saved item of every recorded op, so built with ``_new_saved`` (the tuple
    constructor, without NamedTuple's Python-level ``__new__``).
    """

    tensor: Any
    version: int | None
    output_nr: int | None
    array: Any
    version_box: list[int] | None

    def is_current(self) -> bool:
        """Whether the value is unchanged since it was saved (no in-place op bumped it)."""
        if self.version is None:
            return True
        box = self.version_box if self.tensor is None else self.tensor._vbox
        return box[0] == self.version  # type: ignore[index]

    def unpack(self, node: Node) -> Any:
        """The saved value as a Tensor (or None); torch's RuntimeError when it was modified in
        place since it was saved."""
        tensor = self.tensor
        if not self.is_current():
            if tensor is None:
                described = _describe(self.array, node, self.output_nr)  # type: ignore[arg-type]
                current = self.version_box[0]  # type: ignore[index]
            else:
                described = _describe(tensor._data, tensor.grad_fn, tensor._output_nr)
                current = tensor._vbox[0]
            raise RuntimeError(_MODIFIED_MSG.format(described, current, self.version))
        if self.output_nr is not None:
            tensor = _make(self.array, True, node, self.output_nr)
            tensor._vbox = self.version_box
        return tensor


_new_saved = tuple.__new__
_next_sequence_nr = itertools.count(1).__next__


class Node:
    """A recorded operation (torch's ``grad_fn``); also the ``ctx`` its Function sees.

    ``next_edges[i]`` is where the gradient of input ``i`` goes: ``(node, output_nr, shape,
    dtype)`` for a non-leaf input, ``(tensor, 0, shape, dtype)`` for a leaf that requires grad
    (shape and dtype are the input's, which its gradient must have), ``None`` for a tensor that
    does not require grad and ``()`` for an argument that is not a tensor.

    Every field has a class-level default, so creating a node (once per op call) costs no
    ``__init__``; an instance only stores what differs. The defaults are never mutated in place.
    """

    _forward_cls: type[Function]
    next_edges: tuple[EdgeSlot, ...] = ()
    needs_input_grad: tuple[bool, ...] = ()
    materialize_grads = True
    _to_save: tuple[Any, ...] | None = None
    _saved: list[SavedValue] | None = None
    _freed = False
    _non_differentiable: tuple[Any, ...] = ()
    _out_meta: Sequence[tuple[tuple[int, ...], Any]] = ()
    _pre_hooks: dict[int, list[Any]] | None = None
    _retain_hooks: dict[int, Any] | None = None
    _hooks: list[Any] | None = None
    _backward_array: Any = None  # the Function's ``backward_array`` (set by FunctionMeta)
    #: Whether running this node once it is freed raises torch's "backward through the graph a
    #: second time" (set by FunctionMeta from the Function's ``saves_tensors``).
    _spent_when_freed = False
    #: Set when the node is freed, if ``_spent_when_freed``: the engine refuses to run it again.
    _spent = False
    #: True while ``backward_array`` runs for the last time on this node (a walk without
    #: ``retain_graph``): it may then consume buffers it kept on ctx in the forward (overwrite
    #: one in place and return it as a gradient, after dropping its own reference to it).
    last_use = False
    #: Torch's ``sequence_nr``: nodes are numbered as they are recorded, and the backward runs
    #: the ready node recorded last first (so gradients arrive in torch's order).
    _sequence_nr = 0

    # -- ctx API ------------------------------------------------------------------------------
    def save_for_backward(self, *items: Any) -> None:
        """Keep inputs or outputs (arrays for ArrayFunction, Tensors for Function) for backward."""
        self._to_save = items

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Declare outputs (e.g. indices) that never carry a gradient."""
        self._non_differentiable = outputs

    def mark_dirty(self, *args: Any) -> None:
        """Accepted for torch compatibility (in-place custom functions)."""

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """What ``save_for_backward`` kept, as Tensors (an output of this node re-attached to
        it); torch's RuntimeError once freed or when a saved tensor was modified in place."""
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        return tuple(value.unpack(self) for value in self._saved or ())

    def _saved_arrays(self) -> tuple[Any, ...]:
        """``saved_tensors`` as raw arrays (None stays None), for ``backward_array``: the same
        freed and in-place version checks, no Tensor wrapping."""
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        arrays = []
        for tensor, version, _output_nr, array, version_box in self._saved or ():
            if tensor is None:  # an output (or None)
                if version is not None and version_box[0] != version:  # type: ignore[index]
                    return self.saved_tensors  # raises torch's message
                arrays.append(array)
            else:
                if version is not None and tensor._vbox[0] != version:
                    return self.saved_tensors
                arrays.append(tensor._data)
        return tuple(arrays)

    def _retarget_saved_output(self, old: Any, new: Tensor) -> None:
        """An in-place op made ``new`` this node's output in place of the array ``old``: a saved
        output that was ``old`` now refers to ``new`` (its data and version counter)."""
        saved = self._saved or []
        for i, value in enumerate(saved):
            if value.output_nr is not None and value.array is old:
                box = new._vbox
                saved[i] = value._replace(array=new._data, version_box=box, version=box[0])

    # -- introspection ------------------------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """One ``(node, output_nr)`` per tensor input: ``(None, 0)`` for those without grad."""
        out: list[tuple[Any, int]] = []
        for e in self.next_edges:
            if e is None:
                out.append((None, 0))
            elif not e:  # ``()``: an argument that is not a tensor
                continue
            elif isinstance(e[0], Node):
                out.append((e[0], e[1]))
            else:
                out.append((AccumulateGrad(e[0]), 0))
        return tuple(out)

    def register_hook(self, fn: Callable[..., Any]) -> _HookHandle:
        """``fn(grad_inputs, grad_outputs)`` runs after this node's backward."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _HookHandle(self._hooks, fn)

    def _release(self) -> None:
        """Free what backward needed (torch's ``release_variables``): done after a backward
        without ``retain_graph``, whether or not anything was saved."""
        self._freed = True
        self._saved = None
        if self._spent_when_freed:
            self._spent = True

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """The sink of a leaf tensor's gradient, shown in ``next_functions``."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable
        self.next_functions: tuple[()] = ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _describe(arr: Any, producer: Node | None, output_nr: int) -> str:
    """torch's words for a saved tensor: ``[torch.FloatTensor [2]], which is output 0 of Exp,``."""
    out = f"[torch.{scalar_type_name(arr.dtype)}Tensor {list(arr.shape)}]"
    if producer is not None:
        out += (
            f", which is output {output_nr} of {re.sub(r'Backward[0-9]*$', '', producer.name())},"
        )
    return out


_new_tensor = object.__new__
# Bound by lossgrad._tensor once Tensor exists (this module is imported before it).
Tensor: Any = None
_make: Any = None


def _bind_tensor(tensor_cls: Any) -> None:
    global Tensor, _make
    Tensor, _make = tensor_cls, tensor_cls._make


class FunctionMeta(type):
    """Gives every Function subclass its node class ``<Name>Backward`` (torch's naming)."""

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> None:
        super().__init__(name, bases, ns)
        node_name = ns.get("node_name") or f"{name.lstrip('_')}Backward"
        cls._backward_cls = cast("type[Node]", type(node_name, (Node,), {"_forward_cls": cls}))
        if "setup_context" in ns and name != "Function":  # torch's forward(*args) + setup_context
            fn_cls = cast("type[Function]", cls)  # every class of this metaclass is a Function
            forward, setup = fn_cls.forward, fn_cls.setup_context

            def _forward(ctx: Any, *args: Any) -> Any:
                output = forward(*args)
                setup(ctx, args, output)
                return output

            cls._forward = staticmethod(_forward)
        elif "forward" in ns:
            cls._forward = ns["forward"]
        # the array backward counts only where it sits beside the ``backward`` in force, so a
        # subclass that overrides ``backward`` alone never inherits a stale array version
        owner = next(k for k in cls.__mro__ if "backward" in k.__dict__)
        cls._backward_array = cls._backward_cls._backward_array = owner.__dict__.get(
            "backward_array"
        )
        fn_cls = cast("type[Function]", cls)
        cls._backward_cls._spent_when_freed = fn_cls._array_io and fn_cls.saves_tensors


class Function(metaclass=FunctionMeta):
    """Base class of differentiable operations written by users (torch.autograd.Function).

    ``forward(ctx, *args)`` receives Tensors (recording is off inside it); ``backward(ctx,
    *grad_outputs)`` returns one gradient (or None) per forward argument.
    """

    _backward_cls: type[Node]
    _forward: Any  # forward as apply calls it: (ctx, *args), setup_context folded in
    _array_io = False
    _backward_array: Any = None  # the class's own ``backward_array``, if any (see FunctionMeta)
    node_name: str | None = None
    #: For a built-in op (``ArrayFunction``): whether torch's node for it saves tensors, so that
    #: a second backward through it without ``retain_graph`` raises torch's "Trying to backward
    #: through the graph a second time", whatever the op keeps itself. True by default; ops
    #: whose torch node saves none (add, sum, view, ...) set it False, and torch allows the
    #: second backward. A user ``Function`` raises it only when its backward reads
    #: ``ctx.saved_tensors``, as in torch.
    saves_tensors = True

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        """Alternative to receiving ``ctx`` in ``forward``: fill ``ctx`` from inputs and output."""

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run ``forward``; record a graph node when grad mode is on and an input requires grad."""
        node = cls._backward_cls()
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    return _apply_recorded(cls, node, args)
        node.needs_input_grad = (False,) * len(args)
        prev = _state.enabled
        _state.enabled = False
        try:
            raw = quiet_call(cls._forward, node, *args)
        finally:
            _state.enabled = prev
        if isinstance(raw, tuple):
            return tuple(_wrap_plain(o) for o in raw)
        return _wrap_plain(raw)


class ArrayFunction(Function):
    """Base of built-in ops: ``forward`` takes and returns raw arrays (see module docstring)."""

    _array_io = True

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """``Function.apply`` specialised to array forwards (the hot path of every op)."""
        node = cls._backward_cls()
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    return _apply_arrays_recorded(cls, node, args)
        n = len(args)
        if n == 1:
            a = args[0]
            node.needs_input_grad = _NO_GRAD_NEEDS[1]
            fargs: Any = (a._data if isinstance(a, Tensor) else a,)
        elif n == 2 or n == 3:  # no comprehension (a frame of its own) for the common arities
            a, b = args[0], args[1]
            node.needs_input_grad = _NO_GRAD_NEEDS[n]
            fargs = (
                a._data if isinstance(a, Tensor) else a,
                b._data if isinstance(b, Tensor) else b,
            )
            if n == 3:
                c = args[2]
                fargs += (c._data if isinstance(c, Tensor) else c,)
        else:
            node.needs_input_grad = _NO_GRAD_NEEDS[n] if n < 8 else (False,) * n
            fargs = [a._data if isinstance(a, Tensor) else a for a in args]
        if _cv_get() is _QUIET:  # quiet_call, inlined
            raw = cls._forward(node, *fargs)
        else:
            token = _cv_set(_QUIET)
            try:
                raw = cls._forward(node, *fargs)
            finally:
                _cv_reset(token)
        if type(raw) is ndarray:
            return _make(raw)
        if isinstance(raw, tuple):
            return tuple(_wrap_plain(o) for o in raw)
        return _wrap_plain(raw)


_NO_GRAD_NEEDS = [(False,) * n for n in range(8)]
_NON_TENSOR: list[tuple[tuple[()], ...]] = [((),) * n for n in range(8)]


def _constants(args: tuple[Any, ...]) -> bool:
    """Whether ``args[2:]`` are all constants (no Tensor or array), at most 5 of them."""
    if len(args) > 7:
        return False
    for a in args[2:]:
        if isinstance(a, (Tensor, ndarray)):
            return False
    return True


def _record_inputs(node: Node, args: tuple[Any, ...]) -> list[Any]:
    """Fill ``node.needs_input_grad`` and ``node.next_edges`` from the arguments; return the
    arrays ``forward`` gets (Tensors replaced by their data)."""
    needs = []
    edges: list[EdgeSlot] = []
    fargs: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            data = a._data
            for f in fargs:
                if f is data:  # x and x.detach() share an array: keep them apart for saving
                    data = data.view()
                    break
            fargs.append(data)
            if a._requires_grad:
                needs.append(True)
                edges.append((a.grad_fn or a, a._output_nr, data.shape, data.dtype))
                continue
            edges.append(None)
        else:
            fargs.append(a)
            edges.append(None if isinstance(a, ndarray) else ())  # () marks a non-tensor argument
        needs.append(False)
    node.needs_input_grad = tuple(needs)
    node.next_edges = tuple(edges)
    return fargs


# needs_input_grad of the fast paths, shared (tuples are immutable)
_NEEDS: dict[Any, tuple[bool, ...]] = {True: (True,)}
for _a in (False, True):
    for _b in (False, True):
        _NEEDS[_a, _b] = (_a, _b)
        _NEEDS[_a, _b, False] = (_a, _b, False)


def _record_operands(node: Node, args: tuple[Any, ...]) -> Any:
    """``_record_inputs`` for the common shapes of a call, without its loop: one Tensor operand
    (unary ops), or two Tensor or array operands followed by constants (binary ops, with add's
    alpha; fused losses with their reduction and parameters)."""
    count = len(args)
    if count == 1:  # a unary op: the one argument is a Tensor that requires grad
        operand = args[0]
        data = operand._data
        node.needs_input_grad = _NEEDS[True]
        node.next_edges = (
            (operand.grad_fn or operand, operand._output_nr, data.shape, data.dtype),
        )
        return (data,)
    if count == 3:  # a binary op with add's alpha, a loss with its reduction
        if isinstance(args[2], (Tensor, ndarray)):
            return _record_inputs(node, args)
    elif count > 3 and not _constants(args):
        return _record_inputs(node, args)
    first, second = args[0], args[1]
    first_edge: EdgeSlot
    second_edge: EdgeSlot
    if isinstance(first, Tensor):
        first_data = first._data
        first_edge = (
            (first.grad_fn or first, first._output_nr, first_data.shape, first_data.dtype)
            if first._requires_grad
            else None
        )
    else:
        first_data, first_edge = first, (None if isinstance(first, ndarray) else ())
    if isinstance(second, Tensor):
        second_data = second._data
        if second_data is first_data:  # x and x.detach() share an array: keep them apart
            second_data = second_data.view()
        second_edge = (
            (second.grad_fn or second, second._output_nr, second_data.shape, second_data.dtype)
            if second._requires_grad
            else None
        )
    else:
        second_data, second_edge = second, (None if isinstance(second, ndarray) else ())
    if count == 2:
        node.next_edges = (first_edge, second_edge)
        node.needs_input_grad = _NEEDS[bool(first_edge), bool(second_edge)]
        return (first_data, second_data)
    if count == 3:
        node.next_edges = (first_edge, second_edge, ())
        node.needs_input_grad = _NEEDS[bool(first_edge), bool(second_edge), False]
        return (first_data, second_data, args[2])
    node.next_edges = (first_edge, second_edge, *_NON_TENSOR[count - 2])
    node.needs_input_grad = _NEEDS[bool(first_edge), bool(second_edge)] + _NO_GRAD_NEEDS[count - 2]
    return (first_data, second_data, *args[2:])


def _apply_arrays_recorded(cls: type[Function], node: Node, args: tuple[Any, ...]) -> Any:
    """``ArrayFunction.apply`` recording a node: ``_apply_recorded`` with the common case (one
    floating array out) resolved inline."""
    node._sequence_nr = _next_sequence_nr()
    fargs = _record_operands(node, args)
    _state.enabled = False
    token = None if _cv_get() is _QUIET else _cv_set(_QUIET)
    try:
        raw = cls._forward(node, *fargs)
    finally:
        _state.enabled = True
        if token is not None:
            _cv_reset(token)
    produced = raw
    if type(raw) is not ndarray:
        if not isinstance(raw, generic):
            return _finish_recorded(cls, node, args, fargs, raw)
        raw = asarray(raw)  # a NumPy scalar: what a ufunc gives for 0-d operands
    if node._non_differentiable:
        return _finish_recorded(cls, node, args, fargs, produced)
    dtype = raw.dtype
    if dtype.kind == "f":  # Tensor._make(raw, True, node, 0), inlined
        out = _new_tensor(Tensor)
        out._data, out._requires_grad, out.grad_fn, out._output_nr, out._vbox = (
            raw,
            True,
            node,
            0,
            [0],
        )
    else:
        out = _make(raw)
    node._out_meta = ((raw.shape, dtype),)
    if node._to_save is not None:
        node._saved = _saved_values(node._to_save, args, fargs, (produced,), (out,))
        node._to_save = None
    return out


def backward_via_tensors(ctx: Node, *grads: Any) -> Any:
    """The Function's own ``backward`` on array gradients wrapped as Tensors: what a
    ``backward_array`` returns for the rare cases it does not handle itself."""
    if len(grads) == 1:
        return ctx._forward_cls.backward(ctx, None if grads[0] is None else _make(grads[0]))
    return ctx._forward_cls.backward(ctx, *[None if g is None else _make(g) for g in grads])


def _wrap_plain(o: Any) -> Any:
    """An unrecorded forward output as a Tensor (non-array outputs pass through)."""
    if isinstance(o, Tensor):
        return _make(o._data) if o.grad_fn is not None or o._requires_grad else o
    if o is None or not hasattr(o, "shape"):
        return o
    return _make(o if type(o) is ndarray else asarray(o))


def _apply_recorded(cls: type[Function], node: Node, args: tuple[Any, ...]) -> Any:
    """``Function.apply`` when a graph node is recorded (``forward`` gets the Tensors)."""
    node._sequence_nr = _next_sequence_nr()
    _record_inputs(node, args)
    _state.enabled = False
    token = None if _cv_get() is _QUIET else _cv_set(_QUIET)
    try:
        raw = cls._forward(node, *args)
    finally:
        _state.enabled = True
        if token is not None:
            _cv_reset(token)
    return _finish_recorded(cls, node, args, list(args), raw)


def _finish_recorded(
    cls: type[Function], node: Node, args: tuple[Any, ...], fargs: Any, raw: Any
) -> Any:
    """Wrap the outputs of a recorded forward as Tensors of ``node`` and resolve what it saved."""
    single = not isinstance(raw, tuple)
    outs_raw = (raw,) if single else raw
    outs = [_recorded_output(node, args, i, o) for i, o in enumerate(outs_raw)]
    node._out_meta = [
        (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs
    ]
    to_save = node._to_save
    if to_save is not None:
        if not cls._array_io:  # a user Function: torch accepts Tensors and None only
            _check_saveable(to_save)
        node._saved = _saved_values(to_save, args, fargs, outs_raw, outs)
        node._to_save = None
    return outs[0] if single else tuple(outs)


def _recorded_output(node: Node, args: tuple[Any, ...], index: int, raw: Any) -> Any:
    """Output ``index`` of a recorded forward as a Tensor of ``node`` (differentiable if it is
    floating and not marked non-differentiable); non-array outputs pass through."""
    if raw is None or not (isinstance(raw, Tensor) or hasattr(raw, "shape")):
        return raw
    is_tensor = isinstance(raw, Tensor)
    array = raw._data if is_tensor else (raw if type(raw) is ndarray else asarray(raw))
    differentiable = array.dtype.kind == "f" and not any(
        raw is marked for marked in node._non_differentiable
    )
    producer = node if differentiable else None
    if is_tensor and not any(raw is a for a in args):  # a Tensor forward made: take it over
        raw._requires_grad, raw.grad_fn, raw._output_nr = differentiable, producer, index
        return raw
    return _make(array, differentiable, producer, index)


def _check_saveable(items: tuple[Any, ...]) -> None:
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, Tensor):
            raise TypeError(
                f"save_for_backward can only save variables, but argument {i} is of type "
                f"{type(item).__name__}"
            )


#: The saved ``None``.
_SAVED_NONE = _new_saved(SavedValue, (None, None, None, None, None))


def _saved_values(
    items: tuple[Any, ...], args: tuple[Any, ...], fargs: Any, outs_raw: Any, outs: Any
) -> list[SavedValue]:
    """What ``save_for_backward(*items)`` keeps: for each item, the input Tensor it came from,
    an output of the node, or (an intermediate) a constant whose own graph is not recorded."""
    saved = []
    for item in items:
        if item is None:
            saved.append(_SAVED_NONE)
            continue
        # most ops save their first or second operand: look there before the general search
        source = args[0] if item is fargs[0] else args[1] if item is fargs[1 % len(fargs)] else None
        if source is item:  # an array operand (``x * 0.5``'s scalar): no Tensor holds it, as
            source = None  # the recording views an array two arguments share
        elif not isinstance(source, Tensor):
            source = next(
                (a for a, f in zip(args, fargs) if item is f and isinstance(a, Tensor)), None
            )
        if source is not None:
            saved.append(_new_saved(SavedValue, (source, source._vbox[0], None, None, None)))
        else:
            saved.append(_saved_output_or_constant(item, outs_raw, outs))
    return saved


def _saved_output_or_constant(item: Any, outs_raw: Any, outs: Any) -> SavedValue:
    for out_raw, out in zip(outs_raw, outs):
        if item is out_raw:
            if out.grad_fn is None:  # not differentiable: nothing to re-attach
                return _new_saved(SavedValue, (out, None, None, None, None))
            box = out._vbox
            return _new_saved(SavedValue, (None, box[0], out._output_nr, out._data, box))
    constant = item if isinstance(item, Tensor) else _make(item)
    return _new_saved(SavedValue, (constant, None, None, None, None))


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a backward as first-order only: differentiating its result raises RuntimeError."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        record = grad_mode._state.enabled
        with grad_mode.no_grad():
            result = backward(ctx, *grads)
        if not record or not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return result
        single = not isinstance(result, tuple)
        res = (result,) if single else result
        wrapped = tuple(_DelayedError.apply(r, *grads) if isinstance(r, Tensor) else r for r in res)
        return wrapped[0] if single else wrapped

    return wrapper


class _DelayedError(ArrayFunction):
    node_name = "DelayedError"

    @staticmethod
    def forward(ctx: Any, x: Any, *grads: Any) -> Any:
        return x.copy()

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )
