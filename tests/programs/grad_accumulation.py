"""Gradient bookkeeping in a training loop: accumulation over micro-batches, zero_grad with and
without set_to_none, frozen parameters, no_grad evaluation, inference_mode, hooks, clipping by
hand and set_grad_enabled."""

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(8)
x = torch.tensor(rng.normal(size=(12, 5)).astype(np.float32))
y = torch.tensor(rng.normal(size=(12, 1)).astype(np.float32))

model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.normal(0, 0.4, tuple(p.shape)).astype(np.float32)))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()

optimizer.zero_grad()
full = loss_fn(model(x), y)
full.backward()
full_grad = model[0].weight.grad.clone()
optimizer.zero_grad()
for chunk_x, chunk_y in zip(x.split(4), y.split(4)):
    (loss_fn(model(chunk_x), chunk_y) / 3).backward()
accumulated = model[0].weight.grad
print("accumulated equals full batch:", torch.allclose(accumulated, full_grad, atol=1e-6))
print("max difference below 1e-6:", (accumulated - full_grad).abs().max().item() < 1e-6)

optimizer.zero_grad(set_to_none=False)
print("after zero_grad(set_to_none=False):", model[0].bias.grad.tolist())
optimizer.zero_grad()
print("after zero_grad():", model[0].bias.grad)

model[0].weight.requires_grad_(False)
loss_fn(model(x), y).backward()
print("frozen weight grad:", model[0].weight.grad, "bias grad set:", model[0].bias.grad is not None)
model[0].weight.requires_grad_(True)

seen = []
handle = model[2].weight.register_hook(lambda grad: seen.append(grad.abs().sum().item()))
for step in range(3):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    total_norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    scale = min(1.0, 0.5 / (total_norm.item() + 1e-6))
    for p in model.parameters():
        p.grad.mul_(scale)
    optimizer.step()
    print(f"step {step}: loss {loss.item():.6f} grad norm {total_norm.item():.6f}")
handle.remove()
print("hook saw:", [round(v, 5) for v in seen])

with torch.no_grad():
    evaluation = loss_fn(model(x), y)
print("no_grad loss:", round(evaluation.item(), 6), evaluation.requires_grad)
with torch.inference_mode():
    print("inference_mode output requires_grad:", model(x).requires_grad)
with torch.set_grad_enabled(False):
    print("grad enabled inside:", torch.is_grad_enabled())
print("grad enabled after:", torch.is_grad_enabled())


@torch.no_grad()
def predict(inputs):
    return model(inputs).squeeze(1)


print("predictions:", [round(v, 4) for v in predict(x[:3]).tolist()])
