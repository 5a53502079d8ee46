"""The array-module seam: every op asks the data which module computes it.

Today that is always NumPy; a CuPy backend plugs in here without touching the losses.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module (``numpy``) for these arrays."""
    return np


def scatter_add(out: Any, index: Any, values: Any) -> None:
    """``out[index] += values`` with repeated indices accumulating."""
    get_array_module(out).add.at(out, index, values)


# ``clip(a, lo, hi, out=None)``: NumPy's clip ufunc itself (bounds of a's dtype); np.clip's Python
# wrapper costs more than the loop at small sizes.
clip = (np._core if hasattr(np, "_core") else np.core).umath.clip

# ``einsum(subscripts, *operands, out=None)``: NumPy's C einsum, which ``np.einsum`` calls when
# not asked to optimize the contraction order; its Python wrapper costs about as much as a
# row-wise dot product of a small block.
einsum = (np._core if hasattr(np, "_core") else np.core).multiarray.c_einsum

# ``dot(a, b, out=None)``: NumPy's C dot product without the ``__array_function__`` dispatch
# ``np.dot`` adds (a fifth of a small dot's cost; lossgrad passes it plain arrays only).
dot = (np._core if hasattr(np, "_core") else np.core)._multiarray_umath.dot
