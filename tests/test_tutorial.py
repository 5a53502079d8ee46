"""The tutorial's autograd example runs unchanged on lossgrad and gives torch's gradients.

The example's source is executed twice, once after ``import torch`` / ``import torch.nn as nn``
and once after ``import lossgrad as torch`` / ``import lossgrad.nn as nn``. Between building
the model and running it, both models get the same weights and both runs the same data (set
from NumPy), so every printed gradient must agree with torch's.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch as real_torch

import lossgrad

TORCH_HEADER = "import torch\nimport torch.nn as nn\n"
LOSSGRAD_HEADER = "import lossgrad as torch\nimport lossgrad.nn as nn\n"

# Part 1 of the tutorial: the model and the loss.
BUILD = """
model = nn.Linear(10, 1)
criterion = nn.MSELoss()
"""

# Part 2 of the tutorial: one backward pass, then each parameter's gradient.
BACKWARD = """
loss = criterion(model(inputs), targets)
model.zero_grad()
loss.backward()

for name, param in model.named_parameters():
    print(name, param.grad)
"""

# The tutorial's notes: backward() adds into .grad until zero_grad(); no_grad stops recording.
ACCUMULATE = """
loss = criterion(model(inputs), targets)
loss.backward()
"""

ACCUMULATE_HALVES = """
model.zero_grad()
for half in (slice(0, 8), slice(8, 16)):
    (criterion(model(inputs[half]), targets[half]) / 2).backward()
"""

NO_GRAD_UPDATE = """
with torch.no_grad():
    outputs = model(inputs)
    for param in model.parameters():
        param -= 0.1 * param.grad
print(outputs.requires_grad, outputs.grad_fn)
"""


def _fixture(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weight": rng.uniform(-0.3, 0.3, (1, 10)),
        "bias": rng.uniform(-0.3, 0.3, (1,)),
        "inputs": rng.standard_normal((16, 10)).astype(np.float32),
        "targets": rng.standard_normal((16, 1)).astype(np.float32),
    }


def _run(header: str, parts: list[str], data: dict[str, np.ndarray]) -> tuple[dict[str, Any], str]:
    """Run ``header + BUILD``, set weights and data, then each part: (namespace, stdout)."""
    ns: dict[str, Any] = {}
    exec(header + BUILD, ns)  # noqa: S102 - the tutorial's code, verbatim
    lib = ns["torch"]
    with lib.no_grad():
        ns["model"].weight.copy_(lib.tensor(data["weight"], dtype=lib.float32))
        ns["model"].bias.copy_(lib.tensor(data["bias"], dtype=lib.float32))
    ns["inputs"], ns["targets"] = lib.tensor(data["inputs"]), lib.tensor(data["targets"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for part in parts:
            exec(part, ns)  # noqa: S102
    return ns, out.getvalue()


def _grads(model: Any) -> dict[str, np.ndarray]:
    return {name: p.grad.detach().numpy().copy() for name, p in model.named_parameters()}


def test_tutorial_runs_on_lossgrad_with_torch_gradients() -> None:
    data = _fixture()
    th_ns, th_out = _run(TORCH_HEADER, [BACKWARD], data)
    lg_ns, lg_out = _run(LOSSGRAD_HEADER, [BACKWARD], data)
    assert isinstance(lg_ns["model"], lossgrad.nn.Linear)
    assert isinstance(th_ns["model"], real_torch.nn.Linear)
    th_grads, lg_grads = _grads(th_ns["model"]), _grads(lg_ns["model"])
    assert list(lg_grads) == list(th_grads) == ["weight", "bias"]
    for name in th_grads:
        assert lg_grads[name].dtype == th_grads[name].dtype == np.float32
        np.testing.assert_allclose(lg_grads[name], th_grads[name], rtol=1e-5, atol=1e-7)
    assert lg_out == th_out
    assert abs(lg_ns["loss"].item() - th_ns["loss"].item()) <= 1e-6 * th_ns["loss"].item()


def test_tutorial_gradients_match_the_closed_form() -> None:
    """dL/dW = 2/N (Wx + b - y)^T x and dL/db = 2/N sum(Wx + b - y), computed in float64."""
    data = _fixture(1)
    lg_ns, _ = _run(LOSSGRAD_HEADER, [BACKWARD], data)
    x, y = data["inputs"].astype(np.float64), data["targets"].astype(np.float64)
    w, b = data["weight"].astype(np.float32).astype(np.float64), data["bias"].astype(np.float32)
    residual = x @ w.T + b.astype(np.float64) - y
    grads = _grads(lg_ns["model"])
    np.testing.assert_allclose(grads["weight"], 2 / len(x) * residual.T @ x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["bias"], 2 / len(x) * residual.sum(0), rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_over_two_backward_calls() -> None:
    data = _fixture(2)
    th_ns, _ = _run(TORCH_HEADER, [BACKWARD], data)
    lg_ns, _ = _run(LOSSGRAD_HEADER, [BACKWARD], data)
    once = _grads(lg_ns["model"])
    for ns in (th_ns, lg_ns):
        exec(ACCUMULATE, ns)  # noqa: S102 - a second backward without zero_grad
    th_twice, lg_twice = _grads(th_ns["model"]), _grads(lg_ns["model"])
    for name in once:
        np.testing.assert_allclose(lg_twice[name], 2 * once[name], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(lg_twice[name], th_twice[name], rtol=1e-5, atol=1e-7)
    # zero_grad (set_to_none=True by default) clears them, as in torch
    lg_ns["model"].zero_grad()
    th_ns["model"].zero_grad()
    assert [p.grad for p in lg_ns["model"].parameters()] == [None, None]
    assert [p.grad for p in th_ns["model"].parameters()] == [None, None]


def test_accumulating_two_halves_gives_the_full_batch_gradient() -> None:
    data = _fixture(4)
    th_ns, _ = _run(TORCH_HEADER, [BACKWARD], data)
    lg_ns, _ = _run(LOSSGRAD_HEADER, [BACKWARD], data)
    full = _grads(lg_ns["model"])
    for ns in (th_ns, lg_ns):
        exec(ACCUMULATE_HALVES, ns)  # noqa: S102
    th_acc, lg_acc = _grads(th_ns["model"]), _grads(lg_ns["model"])
    for name in full:
        np.testing.assert_allclose(lg_acc[name], full[name], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lg_acc[name], th_acc[name], rtol=1e-5, atol=1e-7)


def test_no_grad_update_matches_torch() -> None:
    data = _fixture(3)
    th_ns, th_out = _run(TORCH_HEADER, [BACKWARD, NO_GRAD_UPDATE], data)
    lg_ns, lg_out = _run(LOSSGRAD_HEADER, [BACKWARD, NO_GRAD_UPDATE], data)
    assert lg_out.splitlines()[-1] == th_out.splitlines()[-1] == "False None"
    for name, th_p in th_ns["model"].named_parameters():
        lg_p = dict(lg_ns["model"].named_parameters())[name]
        assert lg_p.is_leaf and lg_p.requires_grad and lg_p.grad_fn is None
        expected = data[name].astype(np.float32) - np.float32(0.1) * th_p.grad.numpy()
        np.testing.assert_allclose(
            lg_p.detach().numpy(), th_p.detach().numpy(), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(lg_p.detach().numpy(), expected, rtol=1e-6, atol=1e-7)
    # outside no_grad the updated model records a graph again
    out = lg_ns["model"](lg_ns["inputs"])
    assert out.requires_grad and out.grad_fn is not None
