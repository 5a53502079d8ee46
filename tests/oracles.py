"""Loading the reference libraries whose top-level imports fail next to torch's CPU wheel.

``load_submodule('segmentation_models_pytorch.losses')`` registers the parent packages that are
not imported yet as empty namespace modules (their ``__init__`` is not run) and imports only the
module asked for: smp's, timm's and torchvision's loss files import nothing that needs their
compiled or optional parts. A package first stubbed as the parent of a module and later asked
for itself (``timm.loss`` after ``timm.loss.asymmetric_loss``) is then imported for real.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

#: The names this module registered as empty namespaces.
_STUBS: set[str] = set()


def load_submodule(name: str) -> types.ModuleType:
    if name in _STUBS:  # stubbed as a parent before: import the package itself now
        _STUBS.discard(name)
        del sys.modules[name]
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
    _STUBS.add(name)
