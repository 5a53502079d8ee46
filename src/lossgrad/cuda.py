"""torch.cuda as a CPU-only torch build has it: no device, and torch's error for anything that
needs one.

Example:
    >>> import lossgrad as torch
    >>> torch.cuda.is_available(), torch.cuda.device_count()
    (False, 0)
"""

from __future__ import annotations

from typing import Any

from lossgrad._device import check_device


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Seeds nothing (there is no CUDA generator), as in torch without a GPU."""


def manual_seed_all(seed: int) -> None:
    """Seeds nothing (there is no CUDA generator), as in torch without a GPU."""


def empty_cache() -> None:
    """Nothing to free."""


def _no_cuda(*args: Any, **kwargs: Any) -> Any:
    check_device("cuda")


current_device = synchronize = get_device_name = get_device_properties = set_device = _no_cuda
