"""Optimizer bookkeeping behaves like torch's: groups, defaults, repr, state_dict, errors.

The update rules themselves are compared with torch step by step in test_training.py; here a
few steps pin the state layout, and single steps are checked against closed forms.
"""

from __future__ import annotations

import copy
import importlib
import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import lossgrad
from parity import same_signature

LIBS = (torch, lossgrad)


def _both(fn: Any) -> tuple[Any, Any]:
    return fn(torch), fn(lossgrad)


def _same_error(fn: Any, *, message: bool = True) -> None:
    errors = []
    for lib in LIBS:
        with pytest.raises(Exception) as info:  # noqa: B017, PT011 - the class is compared below
            fn(lib)
        errors.append(info.value)
    th, lg = errors
    assert type(lg) is type(th), (
        f"lossgrad {type(lg).__name__}({lg}) vs torch {type(th).__name__}({th})"
    )
    if message:
        assert str(lg).replace("lossgrad", "torch") == str(th)


def _required(lib: Any) -> Any:
    return importlib.import_module(lib.__name__ + ".optim.optimizer").required


def _f64(x: float) -> Any:
    return lossgrad.from_numpy(np.array([x]))


def _params(lib: Any, dtype: str = "float32") -> list[Any]:
    rng = np.random.default_rng(0)
    dt = getattr(lib, dtype)
    return [
        lib.nn.Parameter(lib.tensor(rng.standard_normal((3, 2)), dtype=dt)),
        lib.nn.Parameter(lib.tensor(rng.standard_normal(3), dtype=dt)),
        lib.nn.Parameter(lib.tensor(rng.standard_normal(2), dtype=dt)),
    ]


def _fill_grads(lib: Any, params: list[Any], skip_last: bool = False, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for i, p in enumerate(params):
        if skip_last and i == len(params) - 1:
            p.grad = None
            continue
        p.grad = lib.tensor(rng.standard_normal(tuple(p.shape)), dtype=p.dtype)


OPTIMIZERS = {
    "SGD": lambda lib, ps: lib.optim.SGD(ps, lr=0.1),
    "SGD_momentum": lambda lib, ps: lib.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "Adam": lambda lib, ps: lib.optim.Adam(ps, lr=0.01),
    "Adam_amsgrad": lambda lib, ps: lib.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda lib, ps: lib.optim.AdamW(ps),
    "AdamW_amsgrad": lambda lib, ps: lib.optim.AdamW(ps, amsgrad=True, maximize=True),
}


# -- signatures and repr -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Optimizer"])
def test_signature(name: str) -> None:
    same_signature(getattr(lossgrad.optim, name), getattr(torch.optim, name))


@pytest.mark.parametrize(
    "method", ["zero_grad", "step", "state_dict", "load_state_dict", "add_param_group"]
)
def test_method_signature(method: str) -> None:
    same_signature(
        getattr(lossgrad.optim.Optimizer, method), getattr(torch.optim.Optimizer, method)
    )


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_repr_matches_torch(name: str) -> None:
    th, lg = _both(lambda lib: repr(OPTIMIZERS[name](lib, _params(lib))))
    assert lg == th


def test_repr_with_groups_matches_torch() -> None:
    def fn(lib: Any) -> str:
        a, b, c = _params(lib)
        opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.1}], lr=0.01)
        opt.add_param_group({"params": c, "weight_decay": 1e-4})
        return repr(opt)

    th, lg = _both(fn)
    assert lg == th


# -- construction errors -------------------------------------------------------------------------
BAD_CONSTRUCTIONS = {
    "sgd_lr": lambda lib, ps: lib.optim.SGD(ps, lr=-1),
    "sgd_momentum": lambda lib, ps: lib.optim.SGD(ps, momentum=-0.5),
    "sgd_wd": lambda lib, ps: lib.optim.SGD(ps, weight_decay=-1e-3),
    "sgd_nesterov_no_momentum": lambda lib, ps: lib.optim.SGD(ps, nesterov=True),
    "sgd_nesterov_dampening": lambda lib, ps: lib.optim.SGD(
        ps, momentum=0.9, dampening=0.1, nesterov=True
    ),
    "adam_lr": lambda lib, ps: lib.optim.Adam(ps, lr=-0.1),
    "adam_eps": lambda lib, ps: lib.optim.Adam(ps, eps=-1.0),
    "adam_beta0": lambda lib, ps: lib.optim.Adam(ps, betas=(1.0, 0.999)),
    "adam_beta1": lambda lib, ps: lib.optim.Adam(ps, betas=(0.9, -0.1)),
    "adam_wd": lambda lib, ps: lib.optim.Adam(ps, weight_decay=-1),
    "adam_int_beta": lambda lib, ps: lib.optim.Adam(ps, betas=(0, 0.9)),
    "adamw_lr": lambda lib, ps: lib.optim.AdamW(ps, lr=-0.1),
    "tensor_params": lambda lib, ps: lib.optim.SGD(ps[0], lr=0.1),
    "empty": lambda lib, ps: lib.optim.Adam([], lr=0.1),
    "generator_exhausted": lambda lib, ps: lib.optim.Adam(iter([])),
    "set_params": lambda lib, ps: lib.optim.SGD(ps[:1]).add_param_group({"params": set(ps[1:])}),
    "not_tensor": lambda lib, ps: lib.optim.SGD([ps[0], 3.0]),
    "non_leaf": lambda lib, ps: lib.optim.SGD([ps[0] * 2]),
    "overlap": lambda lib, ps: lib.optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}]),
    "names_partial": lambda lib, ps: lib.optim.SGD([("a", ps[0]), ps[1]]),
    "names_mixed_groups": lambda lib, ps: lib.optim.SGD(
        [{"params": [("a", ps[0])]}, {"params": [ps[1]]}]
    ),
    "group_not_dict": lambda lib, ps: lib.optim.SGD(ps).add_param_group([ps[0]]),
    "required": lambda lib, ps: lib.optim.Optimizer(ps, {"lr": _required(lib)}),
}


@pytest.mark.parametrize("case", list(BAD_CONSTRUCTIONS))
def test_construction_errors_match_torch(case: str) -> None:
    _same_error(lambda lib: BAD_CONSTRUCTIONS[case](lib, _params(lib)))


def test_duplicate_parameter_warns_like_torch() -> None:
    out = []
    for lib in LIBS:
        p = _params(lib)[0]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.optim.SGD([p, p], lr=0.1)
        out.append([(x.category, str(x.message)) for x in w])
    assert out[1] == out[0] and len(out[0]) == 1


def test_base_step_is_abstract() -> None:
    _same_error(lambda lib: lib.optim.Optimizer(_params(lib), {"lr": 0.1}).step(), message=False)


# -- groups -------------------------------------------------------------------------------------
def test_param_groups_and_defaults_match_torch() -> None:
    def fn(lib: Any) -> list[Any]:
        a, b, c = _params(lib)
        opt = lib.optim.Adam(
            [{"params": [a], "lr": 0.5}, {"params": (b,), "betas": (0.5, 0.6)}], lr=0.01
        )
        opt.add_param_group({"params": [("c", c)][0][1:], "amsgrad": True})
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        return [groups, [len(g["params"]) for g in opt.param_groups], opt.defaults]

    th, lg = _both(fn)
    assert lg == th


def test_named_parameters_give_param_names() -> None:
    def fn(lib: Any) -> list[Any]:
        model = lib.nn.Linear(2, 2)
        opt = lib.optim.SGD(model.named_parameters(), lr=0.1)
        sd = opt.state_dict()
        return [
            opt.param_groups[0]["param_names"],
            sd["param_groups"][0]["param_names"],
            opt.param_groups[0]["params"][0] is model.weight,
        ]

    th, lg = _both(fn)
    assert lg == th


# -- state_dict -----------------------------------------------------------------------------------
def _stepped(
    lib: Any, name: str, steps: int = 3, skip_last: bool = True, dtype: str = "float32"
) -> Any:
    params = _params(lib, dtype)
    opt = OPTIMIZERS[name](lib, [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}])
    for s in range(steps):
        _fill_grads(lib, params, skip_last=skip_last, seed=s)
        opt.step()
    return opt, params


def _describe(sd: dict[str, Any]) -> list[Any]:
    state = {
        k: {
            name: (type(v).__name__, str(v.dtype), tuple(v.shape)) if hasattr(v, "dtype") else v
            for name, v in s.items()
        }
        for k, s in sd["state"].items()
    }
    return [state, sd["param_groups"]]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_layout_matches_torch(name: str) -> None:
    th, lg = _both(lambda lib: _describe(_stepped(lib, name)[0].state_dict()))
    assert lg == th


@pytest.mark.parametrize("name", ["Adam", "SGD_momentum"])
def test_state_values_match_torch(name: str) -> None:
    (th_opt, th_p), (lg_opt, lg_p) = _both(lambda lib: _stepped(lib, name, dtype="float64"))
    for a, b in zip(lg_p, th_p, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)
    for k, th_state in th_opt.state_dict()["state"].items():
        for key, v in th_state.items():
            np.testing.assert_allclose(
                lg_opt.state_dict()["state"][k][key].numpy(), v.numpy(), rtol=1e-12
            )


def test_state_dict_shares_state_tensors_like_torch() -> None:
    def fn(lib: Any) -> list[bool]:
        opt, params = _stepped(lib, "Adam")
        sd = opt.state_dict()
        return [
            sd["state"][0]["exp_avg"] is opt.state[params[0]]["exp_avg"],
            sd["param_groups"][0] is opt.param_groups[0],
        ]

    th, lg = _both(fn)
    assert lg == th


def test_step_state_dtype_follows_default_dtype() -> None:
    def fn(lib: Any) -> list[str]:
        out = []
        for default in (lib.float32, lib.float64):
            old = lib.get_default_dtype()
            lib.set_default_dtype(default)
            try:
                opt, params = _stepped(lib, "Adam", steps=1)
                out.append(str(opt.state[params[0]]["step"].dtype))
                out.append(repr(opt.state[params[0]]["step"]))
            finally:
                lib.set_default_dtype(old)
        return out

    th, lg = _both(fn)
    assert lg == th


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_load_state_dict_resumes_exactly(name: str) -> None:
    """Steps 1-3, save, load into a fresh optimizer over copies, steps 4-6 == six straight steps."""
    straight, params = _stepped(lossgrad, name, steps=6, skip_last=False, dtype="float64")
    first, params_a = _stepped(lossgrad, name, steps=3, skip_last=False, dtype="float64")
    params_b = [lossgrad.nn.Parameter(p.detach().clone()) for p in params_a]
    resumed = OPTIMIZERS[name](
        lossgrad, [{"params": params_b[:1]}, {"params": params_b[1:], "lr": 0.7}]
    )
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    assert resumed.param_groups[1]["lr"] == 0.05  # hyper-parameters come from the saved dict
    assert resumed.param_groups[1]["params"][0] is params_b[1]
    for s in range(3, 6):
        _fill_grads(lossgrad, params_b, seed=s)
        resumed.step()
    for a, b in zip(params_b, params, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_casts_like_torch() -> None:
    """State tensors take the parameter's dtype; ``step`` keeps its own."""

    def fn(lib: Any) -> list[str]:
        saved, _ = _stepped(lib, "Adam_amsgrad", dtype="float64")
        target = OPTIMIZERS["Adam_amsgrad"](
            lib, [{"params": _params(lib)[:1]}, {"params": _params(lib)[1:]}]
        )
        target.load_state_dict(saved.state_dict())
        return [
            f"{k}:{n}:{v.dtype}"
            for k, s in target.state_dict()["state"].items()
            for n, v in s.items()
        ]

    th, lg = _both(fn)
    assert lg == th


LOAD_ERRORS = {
    "group_count": lambda lib, opt, sd: lib.optim.SGD(_params(lib), lr=0.1).load_state_dict(sd),
    "group_size": lambda lib, opt, sd: lib.optim.SGD(
        [{"params": _params(lib)[:2]}, {"params": _params(lib)[2:]}]
    ).load_state_dict(sd),
}


@pytest.mark.parametrize("case", list(LOAD_ERRORS))
def test_load_state_dict_errors_match_torch(case: str) -> None:
    def fn(lib: Any) -> Any:
        opt, _ = _stepped(lib, "SGD_momentum")
        return LOAD_ERRORS[case](lib, opt, opt.state_dict())

    _same_error(fn)


# -- zero_grad, skipped params, closure ------------------------------------------------------
@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_matches_torch(set_to_none: bool) -> None:
    def fn(lib: Any) -> list[Any]:
        params = _params(lib)
        opt = lib.optim.SGD(params, lr=0.1)
        _fill_grads(lib, params, skip_last=True)
        before = params[0].grad
        opt.zero_grad(set_to_none=set_to_none)
        g = params[0].grad
        return [None if g is None else (g.tolist(), g is before), params[2].grad]

    th, lg = _both(fn)
    assert lg == th


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_params_without_grad_are_untouched_and_stateless(name: str) -> None:
    def fn(lib: Any) -> list[Any]:
        opt, params = _stepped(lib, name, steps=2, skip_last=True)
        return [len(opt.state), params[2].tolist() == _params(lib)[2].tolist()]

    th, lg = _both(fn)
    assert lg == th and lg[1]


def test_step_with_closure_returns_its_loss_under_grad_mode() -> None:
    def fn(lib: Any) -> list[Any]:
        p = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        seen = []

        def closure() -> Any:
            opt.zero_grad()
            loss = (p * p).sum()
            seen.append(lib.is_grad_enabled())
            loss.backward()
            return loss

        with lib.no_grad():
            loss = opt.step(closure)
        return [loss.item(), seen, p.tolist(), opt.step() is None]

    th, lg = _both(fn)
    assert lg == th


# -- single steps against closed forms -------------------------------------------------------
def test_sgd_two_steps_closed_form() -> None:
    w0, g1, g2 = 1.5, 0.4, -0.2
    lr, mom, damp, wd = 0.1, 0.9, 0.25, 0.01
    p = lossgrad.nn.Parameter(_f64(w0))
    opt = lossgrad.optim.SGD([p], lr=lr, momentum=mom, dampening=damp, weight_decay=wd)
    p.grad = _f64(g1)
    opt.step()
    d1 = g1 + wd * w0
    w1 = w0 - lr * d1  # the first buffer is the gradient itself (no dampening)
    p.grad = _f64(g2)
    opt.step()
    buf = mom * d1 + (1 - damp) * (g2 + wd * w1)
    assert math.isclose(p.item(), w1 - lr * buf, rel_tol=1e-14)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_first_steps_closed_form(amsgrad: bool) -> None:
    lr, b1, b2, eps = 0.1, 0.8, 0.9, 1e-3
    g = [0.5, 0.05]
    p = lossgrad.nn.Parameter(_f64(0.0))
    opt = lossgrad.optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad)
    m = v = vmax = w = 0.0
    for t, gt in enumerate(g, start=1):
        p.grad = _f64(gt)
        opt.step()
        m = b1 * m + (1 - b1) * gt
        v = b2 * v + (1 - b2) * gt * gt
        vmax = max(vmax, v) if amsgrad else v
        w -= lr / (1 - b1**t) * m / (math.sqrt(vmax) / math.sqrt(1 - b2**t) + eps)
        assert math.isclose(p.item(), w, rel_tol=1e-13)
    assert opt.state[p]["step"].item() == len(g)
