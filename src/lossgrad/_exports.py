"""``public_names(globals())``: the ``__all__`` of a module = its own public functions and classes.

Family files (``loss_regression.py``, ``modules/loss.py``, ...) end with::

    if not TYPE_CHECKING:  # see lossgrad._exports
        __all__ = public_names(globals())

so the package namespaces re-export exactly what each file defines, and a new loss appears in
``F`` / ``nn`` without touching a shared list. The guard is for static type checkers: they
cannot evaluate a computed ``__all__`` and would then treat every name of the file as private
(``F.mse_loss``, ``nn.MSELoss`` unknown to mypy); without it they fall back to the file's public
names. Package ``__init__`` files that concatenate ``__all__`` lists use the same guard.
"""

from __future__ import annotations

from typing import Any


def public_names(namespace: dict[str, Any]) -> list[str]:
    mod = namespace["__name__"]
    return [
        name
        for name, value in namespace.items()
        if not name.startswith("_") and getattr(value, "__module__", None) == mod
        and callable(value)
    ]
