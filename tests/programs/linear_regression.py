"""Linear regression in the style of a textbook chapter: synthetic data, nn.Linear, MSELoss and
SGD, mini-batches cut by hand, the learned weight and bias printed."""

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
true_w = np.array([2.0, -3.4], dtype=np.float32)
true_b = 4.2
features_np = rng.normal(0, 1, (200, 2)).astype(np.float32)
labels_np = (features_np @ true_w + true_b + rng.normal(0, 0.01, 200)).astype(np.float32)

features = torch.from_numpy(features_np)
labels = torch.from_numpy(labels_np).reshape(-1, 1)

net = nn.Sequential(nn.Linear(2, 1))
with torch.no_grad():
    net[0].weight.copy_(torch.tensor([[0.01, -0.02]]))
    net[0].bias.fill_(0.0)
loss = nn.MSELoss()
trainer = torch.optim.SGD(net.parameters(), lr=0.03)

batch_size = 10
for epoch in range(3):
    for start in range(0, len(features), batch_size):
        X = features[start : start + batch_size]
        y = labels[start : start + batch_size]
        batch_loss = loss(net(X), y)
        trainer.zero_grad()
        batch_loss.backward()
        trainer.step()
    epoch_loss = loss(net(features), labels)
    print(f"epoch {epoch + 1}, loss {epoch_loss.item():f}")

w = net[0].weight.data
b = net[0].bias.data
print("error in estimating w:", (torch.tensor(true_w) - w.reshape(true_w.shape)).tolist())
print("error in estimating b:", true_b - b.item())
