"""torch.backends.mps: not available."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
