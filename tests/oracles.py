"""Loading reference libraries whose top-level package cannot be imported next to torch 2.13 CPU.

torchvision's, timm's and smp's ``__init__`` import compiled operators or torchvision; their loss
modules do not. :func:`load_submodule` registers the parent packages as empty namespaces (so their
``__init__`` never runs) and imports just the submodule asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from types import ModuleType


def load_submodule(name: str) -> ModuleType:
    """``load_submodule("timm.loss")``: the module, its parent packages stubbed when needed."""
    if name in sys.modules:
        return sys.modules[name]
    parts = name.split(".")
    for depth in range(1, len(parts)):
        parent = ".".join(parts[:depth])
        if parent in sys.modules:
            continue
        spec = importlib.util.find_spec(parts[0]) if depth == 1 else None
        stub = types.ModuleType(parent)
        if spec is not None and spec.submodule_search_locations is not None:
            stub.__path__ = list(spec.submodule_search_locations)
        else:
            base = sys.modules[".".join(parts[: depth - 1])]
            stub.__path__ = [f"{base.__path__[0]}/{parts[depth - 1]}"]
        sys.modules[parent] = stub
    return importlib.import_module(name)
