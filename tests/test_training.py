"""50-step training runs: lossgrad follows torch's loss trajectory from identical weights.

An MLP 8 -> 16 -> 16 -> 4 (Tanh, ReLU) with MSE loss is built in both libraries, its weights set
from one NumPy draw, and trained for 50 steps with each optimizer configuration; the per-step
losses (float64) must agree with torch's to 1e-9 relative, and so must the final weights and
the optimizer state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import lossgrad

STEPS = 50


def _mlp(lib: Any, dtype: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(
        nn.Linear(8, 16, dtype=dtype),
        nn.Tanh(),
        nn.Linear(16, 16, dtype=dtype),
        nn.ReLU(),
        nn.Linear(16, 4, dtype=dtype),
    )


def _weights(seed: int) -> dict[str, np.ndarray]:
    """One draw of torch-default-like weights, shared by both libraries."""
    rng = np.random.default_rng(seed)
    shapes = {"0": (16, 8), "2": (16, 16), "4": (4, 16)}
    out = {}
    for k, (fan_out, fan_in) in shapes.items():
        bound = 1 / np.sqrt(fan_in)
        out[f"{k}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in))
        out[f"{k}.bias"] = rng.uniform(-bound, bound, fan_out)
    return out


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((32, 8))
    y = np.tanh(x[:, :4] * 1.5) + 0.1 * rng.standard_normal((32, 4))
    return x, y


def _train(
    lib: Any,
    make_opt: Any,
    *,
    sign: float = 1.0,
    closure: bool = False,
    dtype_name: str = "float64",
    seed: int = 0,
) -> tuple[list[float], Any, Any]:
    dtype = getattr(lib, dtype_name)
    model = _mlp(lib, dtype)
    weights = _weights(seed)
    with lib.no_grad():
        for name, p in model.named_parameters():
            p.copy_(lib.tensor(weights[name], dtype=dtype))
    x_np, y_np = _data(seed)
    x, y = lib.tensor(x_np, dtype=dtype), lib.tensor(y_np, dtype=dtype)
    loss_fn = lib.nn.MSELoss()
    opt = make_opt(lib, model)
    losses = []
    for _ in range(STEPS):
        if closure:

            def step_closure() -> Any:
                opt.zero_grad()
                loss = sign * loss_fn(model(x), y)
                loss.backward()
                return loss

            loss = opt.step(step_closure)
        else:
            opt.zero_grad()
            loss = sign * loss_fn(model(x), y)
            loss.backward()
            opt.step()
        losses.append(loss.item())
    return losses, model, opt


def _sgd(**kw: Any) -> Any:
    return lambda lib, model: lib.optim.SGD(model.parameters(), **kw)


def _adam(**kw: Any) -> Any:
    return lambda lib, model: lib.optim.Adam(model.parameters(), **kw)


def _adamw(**kw: Any) -> Any:
    return lambda lib, model: lib.optim.AdamW(model.parameters(), **kw)


def _two_groups(lib: Any, model: Any) -> Any:
    return lib.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.02},
            {
                "params": list(model[2].parameters()) + list(model[4].parameters()),
                "momentum": 0.5,
                "weight_decay": 1e-2,
            },
        ],
        lr=0.1,
        momentum=0.9,
    )


CASES = {
    "sgd": (_sgd(lr=0.1), 1.0),
    "sgd_momentum_wd": (_sgd(lr=0.05, momentum=0.9, weight_decay=1e-3), 1.0),
    "sgd_nesterov": (_sgd(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), 1.0),
    "sgd_dampening": (_sgd(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3), 1.0),
    "sgd_maximize": (_sgd(lr=0.05, momentum=0.9, weight_decay=1e-3, maximize=True), -1.0),
    "sgd_two_groups": (_two_groups, 1.0),
    "adam": (_adam(lr=1e-2), 1.0),
    "adam_wd": (_adam(lr=1e-2, weight_decay=1e-2), 1.0),
    "adam_amsgrad": (_adam(lr=1e-2, amsgrad=True, weight_decay=1e-3), 1.0),
    "adam_maximize": (_adam(lr=1e-2, maximize=True), -1.0),
    "adam_small_beta1": (_adam(lr=1e-2, betas=(0.3, 0.9), eps=1e-6), 1.0),
    "adam_decoupled": (_adam(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), 1.0),
    "adamw": (_adamw(lr=1e-2, weight_decay=0.1), 1.0),
    "adamw_amsgrad": (_adamw(lr=1e-2, weight_decay=0.1, amsgrad=True), 1.0),
    "adamw_amsgrad_maximize": (_adamw(lr=1e-2, amsgrad=True, maximize=True), -1.0),
}


def _assert_same_state(lg_opt: Any, th_opt: Any, rtol: float) -> None:
    lg_sd, th_sd = lg_opt.state_dict(), th_opt.state_dict()
    assert lg_sd["param_groups"] == th_sd["param_groups"]
    assert lg_sd["state"].keys() == th_sd["state"].keys()
    for k, th_state in th_sd["state"].items():
        lg_state = lg_sd["state"][k]
        assert list(lg_state) == list(th_state)
        for name, th_v in th_state.items():
            lg_v = lg_state[name]
            assert str(lg_v.dtype) == str(th_v.dtype), name
            np.testing.assert_allclose(
                lg_v.numpy(), th_v.numpy(), rtol=rtol, atol=1e-12, err_msg=name
            )


@pytest.mark.parametrize("case", list(CASES))
def test_loss_trajectory_matches_torch(case: str) -> None:
    make_opt, sign = CASES[case]
    th_losses, th_model, th_opt = _train(torch, make_opt, sign=sign)
    lg_losses, lg_model, lg_opt = _train(lossgrad, make_opt, sign=sign)
    # the run must actually train (a frozen model would match trivially)
    assert abs(th_losses[-1]) < 0.9 * abs(th_losses[0])
    np.testing.assert_allclose(lg_losses, th_losses, rtol=1e-9, atol=0)
    for (lg_name, lg_p), (th_name, th_p) in zip(
        lg_model.named_parameters(), th_model.named_parameters(), strict=True
    ):
        assert lg_name == th_name
        np.testing.assert_allclose(
            lg_p.detach().numpy(), th_p.detach().numpy(), rtol=1e-8, atol=1e-12
        )
    _assert_same_state(lg_opt, th_opt, rtol=1e-8)


def test_closure_step_matches_torch() -> None:
    make_opt = _sgd(lr=0.05, momentum=0.9)
    th_losses, _, _ = _train(torch, make_opt, closure=True)
    lg_losses, _, _ = _train(lossgrad, make_opt, closure=True)
    np.testing.assert_allclose(lg_losses, th_losses, rtol=1e-9, atol=0)


@pytest.mark.parametrize("case", ["sgd_momentum_wd", "adamw_amsgrad"])
def test_float32_trajectory_close_to_torch(case: str) -> None:
    make_opt, sign = CASES[case]
    th_losses, _, th_opt = _train(torch, make_opt, sign=sign, dtype_name="float32")
    lg_losses, _, lg_opt = _train(lossgrad, make_opt, sign=sign, dtype_name="float32")
    np.testing.assert_allclose(lg_losses, th_losses, rtol=1e-4)
    _assert_same_state(lg_opt, th_opt, rtol=1e-3)


def test_state_dict_resume_matches_uninterrupted_run() -> None:
    """Train 25 steps, save model and optimizer, load into fresh ones, train 25 more: same as 50."""
    make_opt = _adamw(lr=1e-2, weight_decay=0.1, amsgrad=True)
    th_losses, _, _ = _train(torch, make_opt)

    x_np, y_np = _data(0)
    x, y = lossgrad.tensor(x_np), lossgrad.tensor(y_np)
    loss_fn = lossgrad.nn.MSELoss()
    weights = _weights(0)

    def fresh() -> tuple[Any, Any]:
        model = _mlp(lossgrad, lossgrad.float64)
        with lossgrad.no_grad():
            for name, p in model.named_parameters():
                p.copy_(lossgrad.tensor(weights[name]))
        return model, make_opt(lossgrad, model)

    def run(model: Any, opt: Any, n: int) -> list[float]:
        out = []
        for _ in range(n):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    model, opt = fresh()
    losses = run(model, opt, STEPS // 2)
    import copy

    model_sd, opt_sd = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    model2, opt2 = fresh()
    model2.load_state_dict(model_sd)
    opt2.load_state_dict(opt_sd)
    losses += run(model2, opt2, STEPS - STEPS // 2)
    np.testing.assert_allclose(losses, th_losses, rtol=1e-9, atol=0)
