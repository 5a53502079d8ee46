"""A character bigram language model two ways, as teaching notebooks build it: counting pairs
into a table (``N[i, j] += 1``) and normalising, then the same model as a one-layer network on
one-hot inputs trained by gradient descent."""

import numpy as np
import torch
import torch.nn.functional as F

words = (
    "emma olivia ava isabella sophia charlotte mia amelia harper evelyn abigail emily "
    "elizabeth mila ella avery sofia camila aria scarlett victoria madison luna grace chloe "
    "penelope layla riley zoey nora lily eleanor hannah lillian addison aubrey ellie stella"
).split()
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
size = len(stoi)

N = torch.zeros((size, size), dtype=torch.int32)
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        N[stoi[ch1], stoi[ch2]] += 1
print("pairs counted:", N.sum().item(), "most common after '.':", itos[N[0].argmax().item()])

P = (N + 1).float()
P /= P.sum(1, keepdims=True)
log_likelihood = 0.0
n = 0
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        log_likelihood += torch.log(P[stoi[ch1], stoi[ch2]])
        n += 1
print(f"counting model nll: {(-log_likelihood / n).item():.4f}")

xs, ys = [], []
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        xs.append(stoi[ch1])
        ys.append(stoi[ch2])
xs = torch.tensor(xs)
ys = torch.tensor(ys)
num = xs.nelement()

rng = np.random.default_rng(2147483647)
W = torch.tensor(rng.standard_normal((size, size)).astype(np.float32), requires_grad=True)
xenc = F.one_hot(xs, num_classes=size).float()
for k in range(30):
    logits = xenc @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
    W.grad = None
    loss.backward()
    W.data += -20 * W.grad
    if k % 10 == 0:
        print(f"step {k}: loss {loss.item():.4f}")

row = F.softmax(W[0], dim=0)
top = torch.topk(row, 3)
print("top probabilities after '.':", [round(p, 4) for p in top.values.tolist()])
print("p(a), p(e), p(z) after '.':", [round(row[stoi[ch]].item(), 4) for ch in "aez"])
print("likeliest after 'l':", itos[F.softmax(W[stoi["l"]], dim=0).argmax().item()])
