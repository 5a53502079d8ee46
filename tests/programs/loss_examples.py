"""The ``Examples:`` blocks of torch's nn/modules/loss.py, each loss module called the way its
docstring shows, with the random inputs drawn from NumPy (the libraries' random streams differ),
printing each loss and the sum of its input gradient."""

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(11)


def randn(*shape, requires_grad=False):
    return torch.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=requires_grad)


def rand(*shape):
    return torch.tensor(rng.random(shape).astype(np.float32))


def randint(high, shape):
    return torch.tensor(rng.integers(0, high, shape))


def report(name, output, input):
    output.backward()
    print(f"{name}: {output.item():.5f} grad sum {input.grad.sum().item():.5f}")


input = randn(3, 5, requires_grad=True)
target = randn(3, 5)
report("L1Loss", nn.L1Loss()(input, target), input)

input = randn(3, 5, requires_grad=True)
target = randn(3, 5)
report("MSELoss", nn.MSELoss()(input, target), input)

m = nn.LogSoftmax(dim=1)
input = randn(3, 5, requires_grad=True)
target = torch.tensor([1, 0, 4])
report("NLLLoss", nn.NLLLoss()(m(input), target), input)

N, C = 5, 4
data = randn(N, 16, 10, 10)
conv_like = nn.Linear(16, C)
with torch.no_grad():
    conv_like.weight.copy_(randn(C, 16) * 0.1)
    conv_like.bias.zero_()
features = data.permute(0, 2, 3, 1).requires_grad_()
logits = conv_like(features).permute(0, 3, 1, 2)
target = randint(C, (N, 8, 8))
report("NLLLoss 2d", nn.NLLLoss()(m(logits[:, :, :8, :8]), target), features)

log_input = randn(5, 2, requires_grad=True)
target = randn(5, 2).abs().round()
report("PoissonNLLLoss", nn.PoissonNLLLoss()(log_input, target), log_input)

input = randn(5, 2, requires_grad=True)
target = randn(5, 2)
var = torch.ones(5, 2)
report("GaussianNLLLoss", nn.GaussianNLLLoss()(input, target, var), input)

kl_loss = nn.KLDivLoss(reduction="batchmean")
raw = randn(3, 5, requires_grad=True)
input = nn.functional.log_softmax(raw, dim=1)
target = nn.functional.softmax(rand(3, 5), dim=1)
report("KLDivLoss", kl_loss(input, target), raw)
kl_loss = nn.KLDivLoss(reduction="batchmean", log_target=True)
raw = randn(3, 5, requires_grad=True)
log_target = nn.functional.log_softmax(rand(3, 5), dim=1)
report("KLDivLoss log_target", kl_loss(nn.functional.log_softmax(raw, dim=1), log_target), raw)

m = nn.Sigmoid()
input = randn(3, 2, requires_grad=True)
target = rand(3, 2)
report("BCELoss", nn.BCELoss()(m(input), target), input)

input = randn(3, requires_grad=True)
target = torch.empty(3).random_(2) * 0 + torch.tensor([1.0, 0.0, 1.0])
report("BCEWithLogitsLoss", nn.BCEWithLogitsLoss()(input, target), input)
target = torch.ones([10, 64], dtype=torch.float32)
output = torch.full([10, 64], 1.5).requires_grad_()
pos_weight = torch.ones([64])
report(
    "BCEWithLogitsLoss pos_weight",
    nn.BCEWithLogitsLoss(pos_weight=pos_weight)(output, target),
    output,
)

input1 = randn(3, requires_grad=True)
input2 = randn(3)
target = torch.tensor([1.0, -1.0, 1.0])
report("MarginRankingLoss", nn.MarginRankingLoss()(input1, input2, target), input1)

input = randn(4, 3, requires_grad=True)
target = torch.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0], [-1.0, 1.0, 1.0]])
report("HingeEmbeddingLoss", nn.HingeEmbeddingLoss()(input, target), input)

x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
y = torch.tensor([[3, 0, -1, 1]])
report("MultiLabelMarginLoss", nn.MultiLabelMarginLoss()(x, y), x)

input = randn(3, 5, requires_grad=True)
target = randn(3, 5)
report("HuberLoss", nn.HuberLoss(delta=0.5)(input, target), input)
input = randn(3, 5, requires_grad=True)
report("SmoothL1Loss", nn.SmoothL1Loss(beta=0.5)(input, target), input)

input = randn(3, 4, requires_grad=True)
target = torch.tensor([[1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
report("SoftMarginLoss", nn.SoftMarginLoss()(input, target), input)

input = randn(3, 4, requires_grad=True)
target = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
report("MultiLabelSoftMarginLoss", nn.MultiLabelSoftMarginLoss()(input, target), input)

input = randn(3, 5, requires_grad=True)
target = torch.empty(3, dtype=torch.long).random_(5) * 0 + torch.tensor([1, 0, 4])
report("CrossEntropyLoss", nn.CrossEntropyLoss()(input, target), input)
input = randn(3, 5, requires_grad=True)
target = randn(3, 5).softmax(dim=1)
report("CrossEntropyLoss probabilities", nn.CrossEntropyLoss()(input, target), input)
input = randn(3, 5, requires_grad=True)
report(
    "CrossEntropyLoss smoothing",
    nn.CrossEntropyLoss(label_smoothing=0.1, weight=rand(5))(input, torch.tensor([1, 0, 4])),
    input,
)

input1 = randn(3, 5, requires_grad=True)
input2 = randn(3, 5)
target = torch.tensor([1, -1, 1])
report("CosineEmbeddingLoss", nn.CosineEmbeddingLoss(margin=0.1)(input1, input2, target), input1)

x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
y = torch.tensor([3])
report("MultiMarginLoss", nn.MultiMarginLoss()(x, y), x)

anchor = randn(10, 16, requires_grad=True)
positive = randn(10, 16)
negative = randn(10, 16)
report(
    "TripletMarginLoss",
    nn.TripletMarginLoss(margin=1.0, p=2, eps=1e-7)(anchor, positive, negative),
    anchor,
)
anchor = randn(10, 16, requires_grad=True)
triplet = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(), margin=2.0)
report("TripletMarginWithDistanceLoss", triplet(anchor, positive, negative), anchor)
anchor = randn(10, 16, requires_grad=True)
cosine = nn.TripletMarginWithDistanceLoss(
    distance_function=lambda a, b: 1.0 - nn.functional.cosine_similarity(a, b), swap=True
)
report("TripletMarginWithDistanceLoss cosine", cosine(anchor, positive, negative), anchor)

T, C, N, S, S_min = 30, 8, 4, 10, 3
raw = randn(T, N, C, requires_grad=True)
input = raw.log_softmax(2)
target = randint(C - 1, (N, S)) + 1
input_lengths = torch.full(size=(N,), fill_value=T, dtype=torch.long)
target_lengths = torch.tensor(rng.integers(S_min, S, (N,)))
report("CTCLoss", nn.CTCLoss()(input, target, input_lengths, target_lengths), raw)
