"""torch.device, and what a CPU-only torch says about the devices it lacks.

lossgrad computes on the CPU. Code written for torch names devices anyway (``device="cpu"``,
``model.to(device)``, ``torch.device("cuda" if torch.cuda.is_available() else "cpu")``): those
calls work, and asking for an accelerator raises what torch 2.13 built without CUDA raises
(``AssertionError: Torch not compiled with CUDA enabled``).
"""

from __future__ import annotations

from typing import Any

#: The device types torch's parser knows, in the order of its error message.
_TYPES = (
    "cpu cuda ipu xpu mkldnn opengl opencl ideep hip ve fpga maia xla lazy vulkan mps meta hpu "
    "mtia privateuseone"
).split()
_NO_CUDA = "Torch not compiled with CUDA enabled"
_NO_ACCELERATOR = "Cannot access accelerator device when none is available."


class device:
    """A device name: ``device('cpu')``, ``device('cuda:1')``, ``device('cuda', 0)``.

    Example:
        >>> import lossgrad as torch
        >>> torch.device("cuda:1")
        device(type='cuda', index=1)
        >>> torch.device("cpu") == torch.device("cpu")
        True
    """

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - torch's name
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError(_NO_ACCELERATOR)
        elif not isinstance(type, str):
            raise TypeError(
                f"device() received an invalid combination of arguments - got ({type!r})"
            )
        name, _, number = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_TYPES)} device type at start of device string: {type}"
            )
        if number:
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(number)
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) and (other.type, other.index) == (self.type, self.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (device, (str(self),))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")


def check_device(where: Any) -> None:
    """Raise torch's error unless ``where`` (a device, its name, or None for the default device)
    is the CPU."""
    if where is None:
        where = _default_device
    if where is None or where is CPU or where == "cpu":
        return
    dev = where if isinstance(where, device) else device(where)
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        raise AssertionError(_NO_CUDA)
    raise RuntimeError(f"PyTorch is not linked with support for {dev.type} devices")


_default_device: Any = None


def set_default_device(device: Any) -> None:  # noqa: A002 - torch's name
    """torch.set_default_device. As in torch the name is only checked when a factory uses it:
    ``set_default_device("cuda")`` passes, and the next ``torch.ones(1)`` raises."""
    global _default_device
    _default_device = device


def get_default_device() -> device:
    """The CPU (torch.get_default_device)."""
    return CPU
