"""An nn.Module classifier trained with Adam and CrossEntropyLoss on a toy problem (two
interleaved spirals), with train/eval modes, accuracy and a learning-rate change."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(1)
n = 60
angles = np.linspace(0, 3 * np.pi, n)
spiral_a = np.stack([angles * np.cos(angles), angles * np.sin(angles)], 1)
spiral_b = -spiral_a
points = np.concatenate([spiral_a, spiral_b]).astype(np.float32) / 10
targets = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


model = Net()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.normal(0, 0.5, tuple(p.shape)).astype(np.float32)))

x = torch.tensor(points)
y = torch.tensor(targets)
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
criterion = nn.CrossEntropyLoss()

for step in range(60):
    model.train()
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 40:
        for group in optimizer.param_groups:
            group["lr"] = 0.01
    if step % 10 == 9:
        model.eval()
        with torch.no_grad():
            accuracy = (model(x).argmax(dim=1) == y).float().mean()
        print(f"step {step + 1}: loss {loss.item():.5f} accuracy {accuracy.item():.3f}")

probabilities = F.softmax(model(x[:3]), dim=1)
print("first probabilities:", [[round(v, 4) for v in row] for row in probabilities.tolist()])
print("parameter count:", sum(p.numel() for p in model.parameters()))
