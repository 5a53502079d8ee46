"""torch.accelerator: there is none (lossgrad computes on the CPU).

Example:
    >>> import lossgrad as torch
    >>> torch.accelerator.is_available(), torch.accelerator.current_accelerator()
    (False, None)
"""

from __future__ import annotations


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False) -> None:
    return None


def device_count() -> int:
    return 0
