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
    for depth in range(1, len(parts)):
        parent = ".".join(parts[:depth])
        if parent in sys.modules:
            continue
        root = importlib.util.find_spec(parts[0])
        assert root is not None and root.submodule_search_locations, parts[0]
        module = types.ModuleType(parent)
        module.__path__ = [os.path.join(root.submodule_search_locations[0], *parts[1:depth])]
        sys.modules[parent] = module
    return importlib.import_module(name)
