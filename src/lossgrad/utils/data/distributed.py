"""DistributedSampler: each rank reads its own share of a dataset (torch's, index for index)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import TypeVar

import numpy as np

from lossgrad.utils.data.sampler import Sampler

_T_co = TypeVar("_T_co", covariant=True)


def _torch_randperm(n: int, seed: int) -> list[int]:
    """torch.randperm(n, generator=torch.Generator().manual_seed(seed)), value for value.

    torch's CPU randperm is a Fisher–Yates shuffle that swaps position i with i + (r mod (n−i)),
    r a 32-bit draw of the Mersenne Twister seeded with the low 32 bits of ``seed``; NumPy's
    legacy RandomState is that generator (valid for n < 2³²/20, where torch switches draws).
    """
    draws = np.random.RandomState(seed & 0xFFFFFFFF).randint(
        0, 2**32, size=max(n - 1, 0), dtype=np.uint64
    )
    offsets = (draws % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
    order = list(range(n))
    for i, offset in enumerate(offsets):
        j = i + offset
        order[i], order[j] = order[j], order[i]
    return order


class DistributedSampler(Sampler[_T_co]):
    """The indices of rank ``rank``'s share of ``dataset`` (torch.utils.data.DistributedSampler).

    With ``shuffle`` the dataset is permuted by a generator seeded with ``seed + epoch`` (the
    same permutation on every rank, and the same as torch's); call ``set_epoch`` at the start of
    each epoch for a new one. The index list is then padded by repeating its start (or, with
    ``drop_last``, cut) to a multiple of ``num_replicas``, and rank r takes every
    ``num_replicas``-th index starting at r. So every rank gets ``len(sampler)`` indices.

    Args:
        dataset: anything with ``len``.
        num_replicas: the number of ranks (the process group's size if None).
        rank: this rank (the process group's if None).
        shuffle: permute the indices (default True).
        seed: the permutation seed, the same on every rank.
        drop_last: drop the tail that does not divide evenly instead of padding it.

    Raises:
        ValueError: ``rank`` outside ``[0, num_replicas - 1]``.

    Example:
        >>> from lossgrad.utils.data import DistributedSampler
        >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
        [1, 3, 0]
        >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, seed=3))
        [0, 4, 1]
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        from lossgrad import distributed as dist

        if num_replicas is None:
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size()
        if rank is None:
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        size = len(dataset)
        if drop_last and size % num_replicas != 0:
            self.num_samples = math.ceil((size - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(size / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[_T_co]:
        size = len(self.dataset)
        if self.shuffle:
            indices = _torch_randperm(size, self.seed + self.epoch)
        else:
            indices = list(range(size))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - len(indices)
            repeats = math.ceil(padding / len(indices)) if indices else 0
            indices += (indices * repeats)[:padding]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: with ``shuffle``, each epoch gets its own permutation (the same on all
        ranks)."""
        self.epoch = epoch
