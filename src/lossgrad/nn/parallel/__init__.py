"""lossgrad.nn.parallel: DistributedDataParallel (torch.nn.parallel's name), on MPI."""

from lossgrad.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
