"""Data-parallel training of a small classifier on synthetic data, with the exact cost.

    lossgrad run -n 2 examples/ddp_train.py            # 2 ranks (any N; 1 works too)
    mpiexec -n 4 python examples/ddp_train.py --accumulation 2

Every rank holds a replica of the model and reads its own share of each batch
(DistributedSampler); DistributedDataParallel averages the gradients over the ranks. Some
targets are padding (ignore_index) and the ranks and micro-batches hold different numbers of
them, so the cost is computed with ExactMean: each piece contributes its summed loss divided by
the number of real targets of the whole batch, counted once per step with one all-reduce. The
printed loss is the exact mean over all real targets of the batch; the final parameters are the
same, to rounding, whatever the number of ranks or micro-batches.
"""

from __future__ import annotations

import argparse
import contextlib

import numpy as np

import lossgrad as torch
import lossgrad.distributed as dist
import lossgrad.nn as nn
import lossgrad.nn.functional as F
from lossgrad.distributed import ExactMean
from lossgrad.nn.parallel import DistributedDataParallel
from lossgrad.utils.data import DistributedSampler

PAD = -100


def synthetic_data(samples: int, features: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one per class; a quarter of the targets are padding."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, samples)
    centers = rng.standard_normal((classes, features)) * 2.0
    inputs = (centers[labels] + rng.standard_normal((samples, features))).astype(np.float32)
    labels[rng.random(samples) < 0.25] = PAD
    return inputs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch, all ranks")
    parser.add_argument("--accumulation", type=int, default=1, help="micro-batches per step")
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    inputs, labels = synthetic_data(1024, 20, 5)

    torch.manual_seed(0)  # rank 0's initial parameters are broadcast anyway
    model = DistributedDataParallel(nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    cost = ExactMean(F.cross_entropy, ignore_index=PAD, label_smoothing=0.05)
    sampler = DistributedSampler(range(len(labels)), shuffle=True, seed=0)
    per_rank = args.batch_size // world

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        order = np.array(list(sampler))
        epoch_loss = torch.zeros(2, dtype=torch.float64)  # Σ exact batch means, batches
        for start in range(0, len(order) - per_rank + 1, per_rank):
            batch = order[start : start + per_rank]
            pieces = [
                (torch.from_numpy(inputs[part]), torch.from_numpy(labels[part]))
                for part in np.array_split(batch, args.accumulation)
            ]
            denominator = cost.denominator([target for _, target in pieces])
            optimizer.zero_grad()
            batch_loss = 0.0
            for index, (x, y) in enumerate(pieces):
                last = index == len(pieces) - 1  # only the last backward all-reduces
                with contextlib.nullcontext() if last else model.no_sync():
                    loss = cost(model(x), y, denominator=denominator)
                    loss.backward()
                batch_loss += loss.item() / world  # the ranks' pieces add up to the exact mean
            optimizer.step()
            epoch_loss += torch.tensor([batch_loss, 1.0], dtype=torch.float64)
        dist.all_reduce(epoch_loss)  # Σ over the ranks of their shares
        if rank == 0:
            mean = epoch_loss[0].item() / (epoch_loss[1].item() / world)
            print(f"epoch {epoch}: loss {mean:.4f}")
    checksum = sum(float(p.detach().sum()) for p in model.parameters())
    if rank == 0:
        print(f"{world} rank(s), {args.accumulation} micro-batch(es): parameter sum {checksum:.6f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
