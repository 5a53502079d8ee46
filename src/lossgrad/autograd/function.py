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

Every ``forward`` and every backward walk runs with NumPy's floating-point warnings off (torch
never warns about ``0 * inf`` or ``log(0)``), so an op needs no ``np.errstate`` of its own.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """A block with NumPy's floating-point warnings off (ops inside skip their own switch)."""
    token = _cv_set(_QUIET)
    try:
        yield
    finally:
        _cv_reset(token)


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
    _saved: list[Any] | None = None
    _freed = False
    _non_differentiable: tuple[Any, ...] = ()
    _out_meta: Sequence[tuple[tuple[int, ...], Any]] = ()
    _pre_hooks: dict[int, list[Any]] | None = None
    _retain_hooks: dict[int, Any] | None = None
    _hooks: list[Any] | None = None
    _backward_array: Any = None  # the Function's ``backward_array`` (set by FunctionMeta)
    #: True while ``backward_array`` runs for the last time on this node (a walk without
    #: ``retain_graph``): it may then consume buffers it kept on ctx in the forward (overwrite
    #: one in place and return it as a gradient, after dropping its own reference to it).
    last_use = False

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
        saved = self._saved
        if not saved:
            if self._freed:
                raise RuntimeError(_FREED_MSG)
            return ()
        out = []
        for kind, obj, version in saved:
            if kind == "in":
                if obj._vbox[0] != version:
                    raise RuntimeError(
                        _MODIFIED_MSG.format(
                            _describe(obj._data, obj.grad_fn, obj._output_nr), obj._vbox[0], version
                        )
                    )
                out.append(obj)
            elif kind == "out":  # an output of this node: re-attach it to the graph
                idx, arr, vbox = obj
                if vbox[0] != version:
                    raise RuntimeError(
                        _MODIFIED_MSG.format(_describe(arr, self, idx), vbox[0], version)
                    )
                t = _make(arr, True, self, idx)
                t._vbox = vbox
                out.append(t)
            else:
                out.append(obj)
        return tuple(out)

    def _saved_arrays(self) -> tuple[Any, ...]:
        """``saved_tensors`` as raw arrays (None stays None), for ``backward_array``: the same
        freed and in-place version checks, no Tensor wrapping."""
        saved = self._saved
        if not saved:
            if self._freed:
                raise RuntimeError(_FREED_MSG)
            return ()
        out = []
        for kind, obj, version in saved:
            if kind == "in":
                if obj._vbox[0] != version:
                    return self.saved_tensors  # raises torch's message
                out.append(obj._data)
            elif kind == "out":
                if obj[2][0] != version:
                    return self.saved_tensors
                out.append(obj[1])
            else:
                out.append(None if obj is None else obj._data)
        return tuple(out)

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
        if self._saved:
            self._freed = True
            self._saved = None

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


def _apply_arrays_recorded(cls: type[Function], node: Node, args: tuple[Any, ...]) -> Any:
    """``ArrayFunction.apply`` recording a node: ``_apply_recorded`` with the common case (one
    array out, saved items that are inputs or that output) resolved inline."""
    n = len(args)
    if n == 1:  # unary ops: the one argument is a Tensor that requires grad
        a = args[0]
        data = a._data
        fargs: Any = (data,)
        node.needs_input_grad = _NEEDS[True]
        node.next_edges = ((a.grad_fn or a, a._output_nr, data.shape, data.dtype),)
    elif n >= 2 and (n == 2 or _constants(args)):
        # binary ops and fused losses: two Tensor or array operands, then constants (add's
        # alpha, a loss's reduction and parameters)
        a, b = args[0], args[1]
        ea: EdgeSlot
        eb: EdgeSlot
        if isinstance(a, Tensor):
            da = a._data
            ea = (a.grad_fn or a, a._output_nr, da.shape, da.dtype) if a._requires_grad else None
        else:
            da, ea = a, (None if isinstance(a, ndarray) else ())
        if isinstance(b, Tensor):
            db = b._data
            if db is da:  # x and x.detach() share an array: keep them apart for saving
                db = db.view()
            eb = (b.grad_fn or b, b._output_nr, db.shape, db.dtype) if b._requires_grad else None
        else:
            db, eb = b, (None if isinstance(b, ndarray) else ())
        if n == 2:
            fargs = (da, db)
            node.next_edges = (ea, eb)
            node.needs_input_grad = _NEEDS[bool(ea), bool(eb)]
        else:
            fargs = (da, db, *args[2:])
            node.next_edges = (ea, eb, *_NON_TENSOR[n - 2])
            node.needs_input_grad = _NEEDS[bool(ea), bool(eb)] + _NO_GRAD_NEEDS[n - 2]
    else:
        fargs = _record_inputs(node, args)
    _state.enabled = False
    token = None if _cv_get() is _QUIET else _cv_set(_QUIET)
    try:
        raw = cls._forward(node, *fargs)
    finally:
        _state.enabled = True
        if token is not None:
            _cv_reset(token)
    if type(raw) is not ndarray or node._non_differentiable:
        return _finish_recorded(cls, node, args, fargs, raw)
    dt = raw.dtype
    if dt.kind == "f":  # Tensor._make(raw, True, node, 0), inlined
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
    node._out_meta = ((raw.shape, dt),)
    to_save = node._to_save
    if to_save is not None:
        node._to_save = None
        saved: list[tuple[str, Any, int]] = []
        for item in to_save:
            if item is None:
                saved.append(_SAVED_NONE)
                continue
            if type(fargs) is tuple:  # the fast paths above
                a = args[0] if item is fargs[0] else args[1] if item is fargs[1 % n] else None
                if isinstance(a, Tensor):
                    saved.append(("in", a, a._vbox[0]))
                    continue
                if a is None and item is raw and out.grad_fn is not None:
                    saved.append(("out", (0, raw, out._vbox), 0))
                    continue
            for k, fa in enumerate(fargs):
                if item is fa and isinstance(args[k], Tensor):
                    a = args[k]
                    saved.append(("in", a, a._vbox[0]))
                    break
            else:
                if item is raw:
                    if out.grad_fn is None:
                        saved.append(("const", out, 0))
                    else:
                        saved.append(("out", (0, raw, out._vbox), 0))
                    continue
                # an intermediate: kept as a constant (its own graph is not recorded)
                saved.append(("const", item if isinstance(item, Tensor) else _make(item), 0))
        node._saved = saved
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
    cls: type[Function], node: Node, args: tuple[Any, ...], fargs: list[Any], raw: Any
) -> Any:
    """Wrap the outputs of a recorded forward as Tensors of ``node`` and resolve what it saved."""
    array_io = cls._array_io
    if (type(raw) is ndarray or isinstance(raw, generic)) and not node._non_differentiable:
        # the common case: one array out (NumPy returns a scalar for 0-d results)
        arr = raw if type(raw) is ndarray else asarray(raw)
        out = _make(arr, True, node, 0) if arr.dtype.kind == "f" else _make(arr)
        node._out_meta = ((arr.shape, arr.dtype),)
        if node._to_save is not None:
            node._saved = _resolve_saved(node._to_save, args, fargs, (raw,), [out], array_io)
            node._to_save = None
        return out
    single = not isinstance(raw, tuple)
    outs_raw = (raw,) if single else raw
    outs: list[Any] = []
    non_diff = node._non_differentiable
    for i, o in enumerate(outs_raw):
        if o is None or not (isinstance(o, Tensor) or hasattr(o, "shape")):
            outs.append(o)
            continue
        arr = o._data if isinstance(o, Tensor) else (o if type(o) is ndarray else asarray(o))
        diff = arr.dtype.kind == "f" and not any(o is n for n in non_diff)
        if isinstance(o, Tensor) and not any(o is a for a in args):
            t = o
            t._requires_grad, t.grad_fn, t._output_nr = diff, (node if diff else None), i
        else:
            t = _make(arr, diff, node if diff else None, i)
        outs.append(t)
    node._out_meta = [
        (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs
    ]
    if node._to_save is not None:
        node._saved = _resolve_saved(node._to_save, args, fargs, outs_raw, outs, array_io)
        node._to_save = None
    return outs[0] if single else tuple(outs)


_SAVED_NONE = ("const", None, 0)


def _resolve_saved(
    items: tuple[Any, ...],
    args: tuple[Any, ...],
    fargs: list[Any],
    outs_raw: tuple[Any, ...],
    outs: list[Any],
    array_io: bool,
) -> list[Any]:
    """Map what forward saved back to the Tensors it came from, with their version numbers."""
    saved: list[Any] = []
    if not array_io:  # a user Function: torch accepts Tensors and None only
        for i, item in enumerate(items):
            if item is not None and not isinstance(item, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {i} is of type "
                    f"{type(item).__name__}"
                )
    for item in items:
        if item is None:
            saved.append(_SAVED_NONE)
            continue
        for k, fa in enumerate(fargs):
            if item is fa and isinstance(args[k], Tensor):
                a = args[k]
                saved.append(("in", a, a._vbox[0]))
                break
        else:
            for j, o in enumerate(outs_raw):
                if item is o:
                    t = outs[j]
                    if t.grad_fn is None:
                        saved.append(("const", t, 0))
                    else:
                        saved.append(("out", (j, t._data, t._vbox), t._vbox[0]))
                    break
            else:  # an intermediate: kept as a constant (its own graph is not recorded)
                saved.append(("const", item if isinstance(item, Tensor) else Tensor._make(item), 0))
    return saved


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
