"""torch.save and torch.load: tensors, state_dicts and nested containers in a file of lossgrad's
own format, loaded with torch's ``weights_only`` rules.

The format follows torch's layout, not its bytes: a zip archive holding ``data.pkl`` (the object
pickled, each tensor replaced by a reference) and one ``.npy`` file per distinct tensor, read back
with ``allow_pickle=False``. A tensor saved twice in one object comes back as one tensor.

``load(..., weights_only=True)`` (the default, as in torch 2.6 and later) unpickles only what a
checkpoint needs: tensors and Parameters, numbers, strings, bytes, None, lists, tuples, dicts,
OrderedDicts, sets, ``torch.Size``, dtypes and devices, plus the globals allowed with
``add_safe_globals``. Anything else raises ``pickle.UnpicklingError`` with torch's message, so a
file from an untrusted source cannot run code. ``weights_only=False`` unpickles everything.

Example:
    >>> import io
    >>> import lossgrad as torch
    >>> buffer = io.BytesIO()
    >>> torch.save({"w": torch.ones(2), "step": 3}, buffer)
    >>> _ = buffer.seek(0)
    >>> torch.load(buffer)
    {'w': tensor([1., 1.]), 'step': 3}
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import io
import os
import pickle
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from lossgrad._tensor import Tensor

_PICKLE = "archive/data.pkl"
_ARRAYS = "archive/data/"
_MAGIC = "archive/lossgrad"  # marks the archive as lossgrad's (torch's files have archive/version)

_user_safe_globals: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow these classes or functions in ``load(weights_only=True)``."""
    _user_safe_globals.extend(safe_globals)


def clear_safe_globals() -> None:
    _user_safe_globals.clear()


def get_safe_globals() -> list[Any]:
    return list(_user_safe_globals)


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """Allow these globals in ``load(weights_only=True)`` inside the ``with`` block only."""
    before = list(_user_safe_globals)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _user_safe_globals[:] = before


class _Pickler(pickle.Pickler):
    """Pickles an object with each Tensor replaced by ``("tensor", key, kind, requires_grad)``."""

    def __init__(self, file: IO[bytes], protocol: int) -> None:
        super().__init__(file, protocol)
        self.arrays: dict[int, tuple[str, np.ndarray]] = {}

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, Tensor):
            return None
        from lossgrad.nn.parameter import Parameter

        entry = self.arrays.get(id(obj))
        if entry is None:
            entry = self.arrays[id(obj)] = (str(len(self.arrays)), obj._data)
        kind = "parameter" if isinstance(obj, Parameter) else "tensor"
        return ("tensor", entry[0], kind, obj.requires_grad)


def save(
    obj: object,
    f: str | os.PathLike[str] | IO[bytes],
    pickle_module: Any = pickle,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Write ``obj`` (tensors, state_dicts, nested containers) to a path or binary file."""
    payload = io.BytesIO()
    pickler = _Pickler(payload, pickle_protocol)
    pickler.dump(obj)
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        archive.writestr(_MAGIC, b"1")
        archive.writestr(_PICKLE, payload.getvalue())
        for key, array in pickler.arrays.values():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(_ARRAYS + key + ".npy", buffer.getvalue())


def _allowed_by_default(module: str, name: str) -> Any:
    """The object ``module.name`` when ``weights_only`` loading allows it by default, else None."""
    from lossgrad import _dtype
    from lossgrad._device import device
    from lossgrad._tensor import Size

    if module == "builtins" and name in ("set", "frozenset", "complex", "bytearray"):
        return getattr(builtins, name)
    if (module, name) == ("_codecs", "encode"):  # how protocol 2 pickles bytes (torch allows it)
        import codecs

        return codecs.encode
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if (module, name) == ("lossgrad._tensor", "Size"):
        return Size
    if (module, name) == ("lossgrad._device", "device"):
        return device
    if module == "lossgrad._dtype" and isinstance(getattr(_dtype, name, None), _dtype.dtype):
        return getattr(_dtype, name)
    return None


def _weights_only_error(detail: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(
        "Weights only load failed. This file can still be loaded, to do so you have two options, "
        "\x1b[1mdo those steps only if you trust the source of the checkpoint\x1b[0m. \n\t(1) In "
        "PyTorch 2.6, we changed the default value of the `weights_only` argument in "
        "`torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to "
        "`False` will likely succeed, but it can result in arbitrary code execution. Do it only "
        "if you got the file from a trusted source.\n\t(2) Alternatively, to load with "
        "`weights_only=True` please check the recommended steps in the following error message."
        f"\n\tWeightsUnpickler error: {detail}\n\nCheck the documentation of torch.load to learn "
        "more about types accepted by default with weights_only "
        "https://pytorch.org/docs/stable/generated/torch.load.html."
    )


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], archive: zipfile.ZipFile, weights_only: bool) -> None:
        super().__init__(file)
        self.archive = archive
        self.weights_only = weights_only
        self.loaded: dict[str, Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if not self.weights_only:
            return super().find_class(module, name)
        allowed = _allowed_by_default(module, name)
        if allowed is not None:
            return allowed
        for obj in _user_safe_globals:
            if (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)) == (
                module,
                name,
            ):
                return obj
        qualified = f"{module}.{name}"
        raise _weights_only_error(
            f"Unsupported global: GLOBAL {qualified} was not an allowed global by default. "
            f"Please use `torch.serialization.add_safe_globals([{qualified}])` or the "
            f"`torch.serialization.safe_globals([{qualified}])` context manager to allowlist "
            "this global if you trust this class/function."
        )

    def persistent_load(self, pid: Any) -> Any:
        tag, key, kind, requires_grad = pid
        if tag != "tensor":
            raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")
        tensor = self.loaded.get(key)
        if tensor is None:
            with self.archive.open(_ARRAYS + key + ".npy") as stream:
                array = np.load(io.BytesIO(stream.read()), allow_pickle=False)
            if kind == "parameter":
                from lossgrad.nn.parameter import Parameter

                tensor = Parameter(Tensor._make(array), requires_grad=requires_grad)
            else:
                tensor = Tensor._make(array)
                tensor._requires_grad = bool(requires_grad)
            self.loaded[key] = tensor
        return tensor


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Read an object written by ``save``. ``weights_only`` (default True) refuses arbitrary
    objects, as torch does; ``map_location`` is accepted and has nothing to move (CPU only)."""
    weights_only = True if weights_only is None else bool(weights_only)
    with zipfile.ZipFile(f) as archive:  # type: ignore[arg-type]
        names = set(archive.namelist())
        if _PICKLE not in names or _MAGIC not in names:
            raise RuntimeError(
                "lossgrad.load reads files written by lossgrad.save (this one was written by "
                "another program, such as torch.save)"
            )
        with archive.open(_PICKLE) as stream:
            payload = io.BytesIO(stream.read())
        return _Unpickler(payload, archive, weights_only).load()
