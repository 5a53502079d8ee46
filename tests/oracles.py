"""Loading the reference libraries whose top-level imports fail next to torch's CPU wheel, and
the formulas of references that cannot be called on their own, copied into torch.

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
from typing import Any

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


def trl_dpo_formula(
    loss_type: str,
    pc: Any,
    pr: Any,
    rc: Any,
    rr: Any,
    beta: float,
    eps: float,
    chosen_mask_len: Any,
    rejected_mask_len: Any,
) -> Any:
    """The per-pair branches of TRL 1.16 ``DPOTrainer._compute_loss`` that Liger lacks (ipo,
    sigmoid_norm, aot, aot_unpaired), copied into torch: policy (``pc``, ``pr``) and reference
    (``rc``, ``rr``) log-probabilities of the chosen and rejected completions, and their token
    counts."""
    from torch import sort
    from torch.nn.functional import logsigmoid

    chosen_scores, rejected_scores = pc - rc, pr - rr
    if loss_type in ("ipo", "sigmoid_norm"):
        chosen_avg = chosen_scores / chosen_mask_len.clamp(min=1.0)
        rejected_avg = rejected_scores / rejected_mask_len.clamp(min=1.0)
        delta = chosen_avg - rejected_avg
        if loss_type == "ipo":
            return (delta - 1 / (2 * beta)) ** 2
        return -logsigmoid(beta * delta)
    if loss_type == "aot":
        delta = sort(pc - pr, dim=0)[0] - sort(rc - rr, dim=0)[0]
    else:
        delta = sort(chosen_scores, dim=0)[0] - sort(rejected_scores, dim=0)[0]
    return -logsigmoid(beta * delta) * (1 - eps) - logsigmoid(-beta * delta) * eps
