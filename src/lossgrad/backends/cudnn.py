"""torch.backends.cudnn's flags: settable, and without effect (there is no cuDNN)."""

deterministic = False
benchmark = False
enabled = True


def is_available() -> bool:
    return False
