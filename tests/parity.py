"""Compare-with-torch helpers (DESIGN.md §7).

``check(fn, args, grad=(0,))`` builds identical inputs for lossgrad and torch from NumPy arrays,
runs ``fn(lib, *tensors)`` on both (``lib`` is the ``lossgrad`` or ``torch`` module) and compares:
the exception class when torch raises, the warnings (category and message), value, dtype and
shape, first gradients for a random grad_output, second gradients (create_graph=True) for a
random direction, and that no caller's array was modified.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import lossgrad

RNG_SEED = 1234


def _build(lib: Any, args: Sequence[Any], grad: Sequence[int]) -> list[Any]:
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            t = lib.tensor(a.copy())
            if i in grad:
                t.requires_grad_(True)
            out.append(t)
        else:
            out.append(a)
    return out


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x._is_zerotensor():  # torch's symbolic zero gradient (e.g. second grad of a norm)
            return np.zeros(x.shape, torch.empty((), dtype=x.dtype).numpy().dtype)
        return x.detach().numpy()
    if isinstance(x, lossgrad.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _run(lib: Any, fn: Callable[..., Any], tensors: list[Any]) -> tuple[Any, Any, list[Any]]:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            return fn(lib, *tensors), None, list(w)
        except Exception as e:  # noqa: BLE001 - the class is what we compare
            return None, e, list(w)


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    a, e = _np(actual), _np(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch {e.shape}"
    np.testing.assert_allclose(
        a.astype(np.float64) if a.dtype.kind == "f" else a,
        e.astype(np.float64) if e.dtype.kind == "f" else e,
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        err_msg=what,
    )


def _tol(dtype: np.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    if dtype == np.float64:
        return rtol if rtol is not None else 1e-7, atol if atol is not None else 1e-9
    return rtol if rtol is not None else 1e-4, atol if atol is not None else 1e-5


def _warn_key(w: warnings.WarningMessage) -> tuple[str, str]:
    return w.category.__name__, str(w.message)


def check(
    fn: Callable[..., Any],
    args: Sequence[Any],
    grad: Sequence[int] = (0,),
    *,
    rtol: float | None = None,
    atol: float | None = None,
    second_order: bool = True,
    check_warnings: bool = True,
    seed: int = RNG_SEED,
) -> Any:
    """Run ``fn`` on lossgrad and torch with the same inputs and compare everything.

    ``args`` holds NumPy arrays (turned into tensors; those at positions in ``grad`` require
    grad) and plain values (passed unchanged). Returns the lossgrad output.
    """
    originals = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
    lg_in = _build(lossgrad, args, grad)
    th_in = _build(torch, args, grad)
    th_out, th_err, th_w = _run(torch, fn, th_in)
    lg_out, lg_err, lg_w = _run(lossgrad, fn, lg_in)
    for a, o in zip(args, originals):
        if o is not None:
            np.testing.assert_array_equal(a, o, err_msg="caller's array was modified")
    if th_err is not None:
        assert lg_err is not None, (
            f"torch raised {type(th_err).__name__}: {th_err}; lossgrad did not"
        )
        assert type(lg_err).__name__ == type(th_err).__name__, (
            f"lossgrad raised {type(lg_err).__name__}({lg_err}), torch {type(th_err).__name__}({th_err})"
        )
        return None
    if lg_err is not None:
        raise lg_err
    if check_warnings:
        assert sorted(map(_warn_key, lg_w)) == sorted(map(_warn_key, th_w)), (
            f"warnings differ:\nlossgrad {[_warn_key(w) for w in lg_w]}\ntorch    {[_warn_key(w) for w in th_w]}"
        )
    lg_outs = list(lg_out) if isinstance(lg_out, tuple) else [lg_out]
    th_outs = list(th_out) if isinstance(th_out, tuple) else [th_out]
    for i, (lo, to) in enumerate(zip(lg_outs, th_outs)):
        assert str(lo.dtype) == str(to.dtype), f"output {i} dtype {lo.dtype} != torch {to.dtype}"
        r, a = _tol(_np(to).dtype, rtol, atol)
        assert_close(lo, to, r, a, f"output {i} value")
    if not grad:
        return lg_out
    lo, to = lg_outs[0], th_outs[0]
    if not to.requires_grad:
        return lg_out
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(_np(to).shape).astype(_np(to).dtype)
    lg_x = [lg_in[i] for i in grad]
    th_x = [th_in[i] for i in grad]
    th_g = torch.autograd.grad(
        to, th_x, torch.tensor(v), create_graph=second_order, allow_unused=True
    )
    lg_g = lossgrad.autograd.grad(
        lo, lg_x, lossgrad.tensor(v), create_graph=second_order, allow_unused=True
    )
    for k, (lg_gk, th_gk) in enumerate(zip(lg_g, th_g)):
        if th_gk is None:
            assert lg_gk is None or not np.any(_np(lg_gk)), f"grad {k}: torch has none"
            continue
        assert lg_gk is not None, f"grad {k}: lossgrad has none, torch does"
        r, a = _tol(_np(th_gk).dtype, rtol, atol)
        assert_close(lg_gk, th_gk, r, a, f"grad wrt arg {grad[k]}")
    if not second_order:
        return lg_out
    pairs = [(lg, th) for lg, th in zip(lg_g, th_g) if th is not None and th.requires_grad]
    if not pairs:
        return lg_out
    ws = [rng.standard_normal(_np(th).shape).astype(_np(th).dtype) for _, th in pairs]
    th_s = sum((th * torch.tensor(w)).sum() for (_, th), w in zip(pairs, ws))
    lg_s = sum((lg * lossgrad.tensor(w)).sum() for (lg, _), w in zip(pairs, ws))
    th_gg = torch.autograd.grad(th_s, th_x, allow_unused=True)
    lg_gg = lossgrad.autograd.grad(lg_s, lg_x, allow_unused=True)
    for k, (lg_k, th_k) in enumerate(zip(lg_gg, th_gg)):
        if th_k is None:
            assert lg_k is None or np.allclose(_np(lg_k), 0), f"2nd grad {k}: torch has none"
            continue
        assert lg_k is not None, f"2nd grad {k}: lossgrad has none, torch does"
        r, a = _tol(_np(th_k).dtype, rtol, atol)
        assert_close(lg_k, th_k, r, a, f"second grad wrt arg {grad[k]}")
    return lg_out


def check_raises(fn: Callable[..., Any], args: Sequence[Any]) -> BaseException:
    """Both libraries raise the same exception class; returns lossgrad's exception."""
    th_in = _build(torch, args, ())
    lg_in = _build(lossgrad, args, ())
    _, th_err, _ = _run(torch, fn, th_in)
    _, lg_err, _ = _run(lossgrad, fn, lg_in)
    assert th_err is not None, "torch did not raise"
    assert lg_err is not None, f"lossgrad did not raise (torch: {type(th_err).__name__}: {th_err})"
    assert type(lg_err).__name__ == type(th_err).__name__, (
        f"lossgrad raised {type(lg_err).__name__}({lg_err}), torch {type(th_err).__name__}({th_err})"
    )
    return lg_err


def same_signature(lg_obj: Any, th_obj: Any, extensions: Sequence[str] = ()) -> None:
    """Parameter names, kinds and defaults equal torch's (annotations are not compared).

    ``extensions`` names lossgrad's keyword-only additions (such as ``label_smoothing`` on the
    binary cross-entropies); they must be keyword-only, and everything else equals torch's.
    """
    import inspect

    ls, ts = inspect.signature(lg_obj), inspect.signature(th_obj)
    for name in extensions:
        assert ls.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    lp = [(p.name, p.kind, p.default) for p in ls.parameters.values() if p.name not in extensions]
    tp = [(p.name, p.kind, p.default) for p in ts.parameters.values()]
    assert lp == tp, f"signature differs:\nlossgrad {ls}\ntorch    {ts}"


def _normalize(x: Any) -> Any:
    """A library-neutral value for comparing what a code snippet produced under each library."""
    if isinstance(x, (torch.Tensor, lossgrad.Tensor)):
        return (
            "tensor",
            str(x.dtype),
            tuple(x.shape),
            x.detach().numpy().copy(),
            x.requires_grad,
            x.grad_fn is not None,
        )
    if isinstance(x, (tuple, list)):
        return type(x).__name__, [_normalize(v) for v in x]
    if isinstance(x, (torch.dtype, lossgrad.dtype, torch.device, lossgrad.device)):
        return str(x)
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.copy())
    return x


def _assert_same(lg: Any, th: Any, rtol: float, path: str) -> None:
    if isinstance(th, tuple) and th and th[0] == "tensor":
        assert isinstance(lg, tuple) and lg[0] == "tensor", (
            f"{path}: torch gave a tensor, lossgrad {lg!r}"
        )
        assert lg[1:3] == th[1:3], f"{path}: dtype/shape {lg[1:3]} != torch {th[1:3]}"
        assert lg[4:] == th[4:], f"{path}: (requires_grad, has grad_fn) {lg[4:]} != torch {th[4:]}"
        np.testing.assert_allclose(lg[3], th[3], rtol=rtol, atol=0, equal_nan=True, err_msg=path)
    elif isinstance(th, tuple) and th and th[0] == "ndarray":
        assert lg[1] == th[1], f"{path}: ndarray dtype {lg[1]} != torch {th[1]}"
        np.testing.assert_array_equal(lg[2], th[2], err_msg=path)
    elif isinstance(th, tuple) and len(th) == 2 and th[0] in ("tuple", "list"):
        assert isinstance(lg, tuple) and lg[0] == th[0] and len(lg[1]) == len(th[1]), (
            f"{path}: {lg!r} != torch {th!r}"
        )
        for i, (a, b) in enumerate(zip(lg[1], th[1])):
            _assert_same(a, b, rtol, f"{path}[{i}]")
    else:
        assert type(lg) is type(th) and lg == th, f"{path}: {lg!r} != torch {th!r}"


def _warn_text(w: warnings.WarningMessage) -> tuple[str, str]:
    """Category and message, without the C++ location torch appends to its own warnings."""
    return w.category.__name__, re.sub(r" \(Triggered internally at .*\)$", "", str(w.message))


def check_code(src: str, *, message: bool = True, rtol: float = 0.0, warns: bool = True) -> None:
    """Run the statements ``src`` with ``t`` bound to torch, then to lossgrad, and compare: the
    exception class (and message unless ``message=False``) when torch raises, the warnings
    (category and message; ``warns=False`` for torch's once-per-process warnings, whose firing
    depends on test order), and the value left in the variable ``out``, if any (tensors by
    dtype, shape, requires_grad, grad_fn presence and values, exactly unless ``rtol``)."""
    results = []
    for lib in (torch, lossgrad):
        scope: dict[str, Any] = {"t": lib, "np": np}
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                exec(src, scope)  # noqa: S102 - the snippets are this test suite's own code
                err = None
            except Exception as e:  # noqa: BLE001 - the class is what we compare
                err = e
        results.append((err, sorted(map(_warn_text, w)), _normalize(scope.get("out"))))
    (th_err, th_w, th_out), (lg_err, lg_w, lg_out) = results
    if th_err is not None:
        assert lg_err is not None, (
            f"torch raised {type(th_err).__name__}: {th_err}; lossgrad did not"
        )
        assert type(lg_err) is type(th_err) or type(lg_err).__name__ == type(th_err).__name__, (
            f"lossgrad raised {type(lg_err).__name__}({lg_err}), torch {type(th_err).__name__}({th_err})"
        )
        if message:
            assert str(lg_err) == str(th_err), f"message:\nlossgrad {lg_err}\ntorch    {th_err}"
        return
    if lg_err is not None:
        raise lg_err
    assert not warns or lg_w == th_w, f"warnings differ:\nlossgrad {lg_w}\ntorch    {th_w}"
    _assert_same(lg_out, th_out, rtol, "out")
