"""lossgrad.utils.data: torch.utils.data's names."""

from lossgrad.utils.data.distributed import DistributedSampler
from lossgrad.utils.data.sampler import Sampler

__all__ = ["DistributedSampler", "Sampler"]
