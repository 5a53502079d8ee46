"""A character-level MLP language model (embedding table, one hidden tanh layer) trained with
F.cross_entropy on windows of three characters, with manual SGD as a lecture notebook writes it,
then the same model built from nn.Embedding and nn.Linear."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

words = "anna bob carla dora elif fanny gus hana ivo jana kara lina mona nina otto pia".split()
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
vocab = len(stoi)
block = 3

X, Y = [], []
for w in words:
    context = [0] * block
    for ch in w + ".":
        ix = stoi[ch]
        X.append(context)
        Y.append(ix)
        context = context[1:] + [ix]
X = torch.tensor(X)
Y = torch.tensor(Y)
print("dataset:", tuple(X.shape), tuple(Y.shape), X.dtype)

rng = np.random.default_rng(42)


def draw(*shape, scale=1.0):
    return torch.tensor((rng.standard_normal(shape) * scale).astype(np.float32))


C = draw(vocab, 2)
W1 = draw(6, 20, scale=0.3)
b1 = draw(20, scale=0.1)
W2 = draw(20, vocab, scale=0.1)
b2 = torch.zeros(vocab)
parameters = [C, W1, b1, W2, b2]
for p in parameters:
    p.requires_grad = True
print("parameters:", sum(p.nelement() for p in parameters))

for i in range(40):
    emb = C[X]
    h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Y)
    for p in parameters:
        p.grad = None
    loss.backward()
    lr = 0.5 if i < 30 else 0.05
    for p in parameters:
        p.data += -lr * p.grad
    if i % 10 == 0:
        print(f"step {i}: loss {loss.item():.4f}")
print(
    f"final loss {F.cross_entropy(torch.tanh(C[X].view(-1, 6) @ W1 + b1) @ W2 + b2, Y).item():.4f}"
)


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(vocab, 2)
        self.hidden = nn.Linear(6, 20)
        self.out = nn.Linear(20, vocab)

    def forward(self, idx):
        return self.out(torch.tanh(self.hidden(self.embed(idx).flatten(1))))


model = CharMLP()
with torch.no_grad():
    model.embed.weight.copy_(C)
    model.hidden.weight.copy_(W1.T)
    model.hidden.bias.copy_(b1)
    model.out.weight.copy_(W2.T)
    model.out.bias.copy_(b2)
print(f"module loss {F.cross_entropy(model(X), Y).item():.4f}")
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(5):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X), Y)
    loss.backward()
    optimizer.step()
print(f"after 5 module steps {loss.item():.4f}")
print("embedding grad rows touched:", int((model.embed.weight.grad.abs().sum(1) > 0).sum()))
