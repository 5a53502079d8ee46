"""lossgrad.nn.functional: the public ``F`` namespace (torch.nn.functional's names).

Losses live in one file per family; each file's ``__all__`` lists what it defines.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from lossgrad._tensor import Tensor
from lossgrad.nn.functional import (
    distance,
    loss_classification,
    loss_contrastive,
    loss_ctc,
    loss_detection,
    loss_distribution,
    loss_image,
    loss_language,
    loss_margin,
    loss_probability,
    loss_ranking,
    loss_regression,
    loss_robust,
    loss_segmentation,
    loss_sparse,
    loss_transducer,
    sparse,
)
from lossgrad.nn.functional.distance import *  # noqa: F403
from lossgrad.nn.functional.loss_classification import *  # noqa: F403
from lossgrad.nn.functional.loss_contrastive import *  # noqa: F403
from lossgrad.nn.functional.loss_ctc import *  # noqa: F403
from lossgrad.nn.functional.loss_detection import *  # noqa: F403
from lossgrad.nn.functional.loss_distribution import *  # noqa: F403
from lossgrad.nn.functional.loss_image import *  # noqa: F403
from lossgrad.nn.functional.loss_language import *  # noqa: F403
from lossgrad.nn.functional.loss_margin import *  # noqa: F403
from lossgrad.nn.functional.loss_probability import *  # noqa: F403
from lossgrad.nn.functional.loss_ranking import *  # noqa: F403
from lossgrad.nn.functional.loss_regression import *  # noqa: F403
from lossgrad.nn.functional.loss_robust import *  # noqa: F403
from lossgrad.nn.functional.loss_segmentation import *  # noqa: F403
from lossgrad.nn.functional.loss_sparse import *  # noqa: F403
from lossgrad.nn.functional.loss_transducer import *  # noqa: F403
from lossgrad.nn.functional.sparse import *  # noqa: F403
from lossgrad.ops.activation import leaky_relu, logsigmoid, relu, softplus
from lossgrad.ops.activation import log_softmax as _log_softmax
from lossgrad.ops.activation import softmax as _softmax
from lossgrad.ops.linalg import linear
from lossgrad.ops.pointwise import sigmoid, tanh


def _implicit_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """Softmax along ``dim`` (torch's deprecation warning when ``dim`` is omitted)."""
    if dim is None:
        dim = _implicit_dim("softmax", input.dim(), _stacklevel)
    return _softmax(input, dim, dtype=dtype)


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as x - logsumexp(x)."""
    if dim is None:
        dim = _implicit_dim("log_softmax", input.dim(), _stacklevel)
    return _log_softmax(input, dim, dtype=dtype)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [
        "leaky_relu",
        "linear",
        "log_softmax",
        "logsigmoid",
        "relu",
        "sigmoid",
        "softmax",
        "softplus",
        "tanh",
    ]
    for _family in (
        distance,
        sparse,
        loss_classification,
        loss_contrastive,
        loss_ctc,
        loss_detection,
        loss_image,
        loss_distribution,
        loss_language,
        loss_margin,
        loss_probability,
        loss_ranking,
        loss_regression,
        loss_sparse,
        loss_transducer,
        loss_segmentation,
        loss_robust,
    ):
        __all__ += _family.__all__
