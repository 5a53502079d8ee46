"""Loading the reference libraries whose top-level imports fail next to torch's CPU wheel.

``load_submodule('segmentation_models_pytorch.losses')`` registers the parent packages as empty
namespace modules (their ``__init__`` is not run) and imports only the submodule: smp's and
torchvision's loss files import nothing that needs their compiled or optional parts.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types


def load_submodule(name: str) -> types.ModuleType:
    parts = name.split(".")
    if parts[0] not in sys.modules:
        root = importlib.util.find_spec(parts[0])
        assert root is not None and root.submodule_search_locations, parts[0]
        _register(parts[0], root.submodule_search_locations[0])
    location = sys.modules[parts[0]].__path__[0]
    for depth in range(2, len(parts)):
        parent = ".".join(parts[:depth])
        if parent not in sys.modules:
            _register(parent, os.path.join(location, *parts[1:depth]))
    return importlib.import_module(name)


def _register(name: str, path: str) -> None:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
