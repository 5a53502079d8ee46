"""torch.backends: the flags tutorials set or read (``cudnn.deterministic``, ``mps.is_available``).

Example:
    >>> import lossgrad as torch
    >>> torch.backends.mps.is_available()
    False
"""

from lossgrad.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
