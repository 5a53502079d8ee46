"""Saving and loading: a model's state_dict and an optimizer's through a file, a checkpoint
dict, load_state_dict with strict=False, and training resumed from the checkpoint."""

import os
import tempfile

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(3)
x = torch.tensor(rng.normal(size=(16, 4)).astype(np.float32))
y = torch.tensor(rng.normal(size=(16, 2)).astype(np.float32))


def make_model():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(rng.normal(0, 0.3, tuple(p.shape)).astype(np.float32)))
    return model


model = make_model()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(5):
    optimizer.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "checkpoint.pt")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 5}, path)
    checkpoint = torch.load(path)
    print("keys:", sorted(checkpoint), "epoch:", checkpoint["epoch"])
    print("state keys:", list(checkpoint["model"]))

    restored = make_model()
    result = restored.load_state_dict(checkpoint["model"])
    print("missing:", result.missing_keys, "unexpected:", result.unexpected_keys)
    same = all(torch.equal(a, b) for a, b in zip(model.parameters(), restored.parameters()))
    print("same parameters:", same)

    restored_optimizer = torch.optim.Adam(restored.parameters(), lr=0.01)
    restored_optimizer.load_state_dict(checkpoint["optimizer"])
    for net, opt in ((model, optimizer), (restored, restored_optimizer)):
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
        print(f"resumed loss {loss.item():.6f}")

    partial = {k: v for k, v in checkpoint["model"].items() if k.startswith("0.")}
    result = make_model().load_state_dict(partial, strict=False)
    print("strict=False missing:", result.missing_keys)
    try:
        make_model().load_state_dict(partial)
    except RuntimeError as error:
        print("strict load failed:", str(error).splitlines()[0])

    tensor_path = os.path.join(folder, "tensor.pt")
    torch.save([torch.arange(3), (torch.ones(2, dtype=torch.float64), "label")], tensor_path)
    print("loaded list:", torch.load(tensor_path))
