"""A training loop over a DataLoader: TensorDataset, random_split by fixed sizes, batches with
drop_last, a sampler given as an index order, a custom collate_fn and a dict dataset."""

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

rng = np.random.default_rng(2)
inputs = torch.tensor(rng.normal(size=(50, 3)).astype(np.float32))
outputs = inputs @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

dataset = TensorDataset(inputs, outputs)
train_set = Subset(dataset, list(range(40)))
valid_set = Subset(dataset, list(range(40, 50)))
order = rng.permutation(40).tolist()

model = nn.Linear(3, 1)
with torch.no_grad():
    model.weight.zero_()
    model.bias.zero_()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
loss_fn = nn.MSELoss()

train_loader = DataLoader(train_set, batch_size=8, sampler=order, drop_last=True)
valid_loader = DataLoader(valid_set, batch_size=4)
print("batches:", len(train_loader), len(valid_loader))
for epoch in range(4):
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    with torch.no_grad():
        valid = sum(loss_fn(model(xb), yb).item() for xb, yb in valid_loader)
    print(f"epoch {epoch}: train {total / 40:.6f} valid {valid / len(valid_loader):.6f}")


class Pairs(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float32), "label": i % 2, "name": f"item{i}"}


for batch in DataLoader(Pairs(), batch_size=2):
    print(batch["x"].tolist(), batch["label"].tolist(), batch["name"])
sums = DataLoader(Pairs(), batch_size=3, collate_fn=lambda items: sum(d["label"] for d in items))
print("collated:", list(sums))
