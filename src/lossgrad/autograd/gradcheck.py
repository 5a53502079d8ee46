"""gradcheck / gradgradcheck: analytical Jacobians against float64 central differences."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical Jacobians disagree."""


def _tensors(inputs: Any) -> tuple[Any, ...]:
    from lossgrad._tensor import Tensor

    return (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)


def _outputs(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[Any]:
    from lossgrad._tensor import Tensor

    out = fn(*inputs)
    outs = [out] if isinstance(out, Tensor) else list(out)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def _numerical(
    fn: Callable[..., Any], inputs: tuple[Any, ...], eps: float
) -> list[list[np.ndarray]]:
    """J[out][in] of shape (in.numel, out.numel), by central differences in place."""
    from lossgrad.autograd.grad_mode import no_grad

    with no_grad():
        outs0 = _outputs(fn, inputs)
        jac = [[np.zeros((x.numel(), o.numel())) for x in inputs] for o in outs0]
        for j, x in enumerate(inputs):
            if not getattr(x, "requires_grad", False):
                continue
            flat = x._data.reshape(-1)
            for k in range(flat.size):
                orig = flat[k].item()
                flat[k] = orig + eps
                plus = [o._data.astype(np.float64).ravel() for o in _outputs(fn, inputs)]
                flat[k] = orig - eps
                minus = [o._data.astype(np.float64).ravel() for o in _outputs(fn, inputs)]
                flat[k] = orig
                for i in range(len(outs0)):
                    jac[i][j][k] = (plus[i] - minus[i]) / (2 * eps)
    return jac


def _analytical(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[list[np.ndarray]]:
    from lossgrad._tensor import Tensor
    from lossgrad.autograd import grad

    outs = _outputs(fn, inputs)
    diff = [x for x in inputs if getattr(x, "requires_grad", False)]
    jac = [[np.zeros((x.numel(), o.numel())) for x in inputs] for o in outs]
    for i, o in enumerate(outs):
        for m in range(o.numel()):
            seed = np.zeros(o._data.size, o._data.dtype)
            seed[m] = 1
            if not o.requires_grad:
                continue
            gs = grad(
                o,
                diff,
                Tensor._make(seed.reshape(o._data.shape)),
                retain_graph=True,
                allow_unused=True,
            )
            it = iter(gs)
            for j, x in enumerate(inputs):
                if getattr(x, "requires_grad", False):
                    g = next(it)
                    if g is not None:
                        jac[i][j][:, m] = g._data.astype(np.float64).ravel()
    return jac


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check the gradients of ``func`` at ``inputs`` (float64 tensors that require grad).

    Every output's Jacobian by reverse mode, row by row, against central differences with step
    ``eps``; they agree when ``|analytical - numerical| <= atol + rtol * |numerical|``. The
    options of torch's signature that concern features lossgrad lacks (forward AD, batched
    grads, sparse masks) are accepted and ignored; ``fast_mode`` runs the full check.

    Raises:
        GradcheckError: on a mismatch, unless ``raise_exception=False`` (then returns False).
    """
    from lossgrad._tensor import Tensor

    inputs = _tensors(inputs)
    for k, x in enumerate(inputs):
        if getattr(x, "requires_grad", False) and x.dtype.name != "float64":
            warnings.warn(
                f"Input #{k} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ",
                UserWarning,
                stacklevel=2,
            )
    num = _numerical(func, inputs, eps)
    ana = _analytical(func, inputs)
    for i, (nrow, arow) in enumerate(zip(num, ana, strict=False)):
        for j, (n, a) in enumerate(zip(nrow, arow, strict=False)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if raise_exception:
                    raise GradcheckError(
                        f"Jacobian mismatch for output {i} with respect to input {j},\n"
                        f"numerical:{Tensor._make(n)}\nanalytical:{Tensor._make(a)}\n"
                    )
                return False
    return True


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives: gradcheck of the function x, v -> v . J(x) (double backward)."""
    from lossgrad._tensor import Tensor
    from lossgrad.autograd import grad
    from lossgrad.autograd.grad_mode import enable_grad

    inputs = _tensors(inputs)
    outs = _outputs(func, inputs)
    rng = np.random.default_rng(0)
    if grad_outputs is None:
        vs = [
            Tensor._make(rng.standard_normal(o._data.shape).astype(o._data.dtype), True)
            for o in outs
        ]
    else:
        vs = list(_tensors(grad_outputs))
    n_in = len(inputs)

    def first(*args: Any) -> tuple[Any, ...]:
        xs, v = args[:n_in], args[n_in:]
        with enable_grad():  # the numerical pass runs under no_grad; this one must record
            o = _outputs(func, xs)
            diff = [x for x in xs if getattr(x, "requires_grad", False)]
            gs = grad(o, diff, list(v), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(
        first,
        tuple(inputs) + tuple(vs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )
