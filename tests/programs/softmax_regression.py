"""Softmax regression from scratch, as a textbook writes it: its own softmax and cross-entropy
(picking y_hat[range(n), y]), an accuracy with argmax(axis=1), minibatch SGD with in-place
updates under no_grad, then the concise version with nn.CrossEntropyLoss."""

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(5)
num_inputs, num_outputs, n = 8, 3, 90
centers = rng.normal(0, 2, (num_outputs, num_inputs))
labels_np = rng.integers(0, num_outputs, n)
features_np = centers[labels_np] + rng.normal(0, 1.5, (n, num_inputs))
X_all = torch.tensor(features_np, dtype=torch.float32)
y_all = torch.tensor(labels_np)

W = torch.tensor(
    rng.normal(0, 0.01, (num_inputs, num_outputs)), dtype=torch.float32, requires_grad=True
)
b = torch.zeros(num_outputs, requires_grad=True)


def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition


def net(X):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


X_check = torch.normal(0, 1, (2, 5)) * 0 + torch.tensor([[0.5, -1.0, 2.0, 0.0, 1.0]])
prob = softmax(X_check)
print("softmax rows sum to:", prob.sum(1).tolist())

batch = 15
for epoch in range(5):
    for i in range(0, n, batch):
        X, y = X_all[i : i + batch], y_all[i : i + batch]
        loss = cross_entropy(net(X), y)
        loss.sum().backward()
        sgd([W, b], 0.1, batch)
    with torch.no_grad():
        train_loss = cross_entropy(net(X_all), y_all).mean()
        acc = accuracy(net(X_all), y_all) / n
    print(f"epoch {epoch + 1}, loss {train_loss.item():.5f}, train acc {acc:.3f}")

concise = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_outputs))
with torch.no_grad():
    concise[1].weight.copy_(W.T)
    concise[1].bias.copy_(b)
loss = nn.CrossEntropyLoss(reduction="none")
print(f"concise loss agrees: {loss(concise(X_all), y_all).mean().item():.5f}")
trainer = torch.optim.SGD(concise.parameters(), lr=0.1)
for _epoch in range(3):
    trainer.zero_grad()
    l = loss(concise(X_all), y_all)
    l.mean().backward()
    trainer.step()
print(f"concise after 3 steps {l.mean().item():.5f}")
