"""nn modules: the Module base, layers, activations, containers, losses, distances."""

from typing import TYPE_CHECKING

from lossgrad.nn.modules import distance as _distance
from lossgrad.nn.modules import loss as _loss
from lossgrad.nn.modules import loss_contrastive as _loss_contrastive
from lossgrad.nn.modules import loss_detection as _loss_detection
from lossgrad.nn.modules import loss_distribution as _loss_distribution
from lossgrad.nn.modules import loss_image as _loss_image
from lossgrad.nn.modules import loss_language as _loss_language
from lossgrad.nn.modules import loss_robust as _loss_robust
from lossgrad.nn.modules import loss_segmentation as _loss_segmentation
from lossgrad.nn.modules import loss_structured as _loss_structured
from lossgrad.nn.modules.activation import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from lossgrad.nn.modules.container import ModuleDict, ModuleList, Sequential
from lossgrad.nn.modules.distance import *  # noqa: F403
from lossgrad.nn.modules.linear import Flatten, Identity, Linear
from lossgrad.nn.modules.loss import *  # noqa: F403
from lossgrad.nn.modules.loss_contrastive import *  # noqa: F403
from lossgrad.nn.modules.loss_detection import *  # noqa: F403
from lossgrad.nn.modules.loss_distribution import *  # noqa: F403
from lossgrad.nn.modules.loss_image import *  # noqa: F403
from lossgrad.nn.modules.loss_language import *  # noqa: F403
from lossgrad.nn.modules.loss_robust import *  # noqa: F403
from lossgrad.nn.modules.loss_segmentation import *  # noqa: F403
from lossgrad.nn.modules.loss_structured import *  # noqa: F403
from lossgrad.nn.modules.module import Module
from lossgrad.nn.modules.sparse import Embedding

if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [
        "Embedding",
        "Flatten",
        "Identity",
        "LeakyReLU",
        "Linear",
        "LogSoftmax",
        "Module",
        "ModuleDict",
        "ModuleList",
        "ReLU",
        "Sequential",
        "Sigmoid",
        "Softmax",
        "Softplus",
        "Tanh",
        *_loss.__all__,
        *_loss_structured.__all__,
        *_loss_detection.__all__,
        *_loss_image.__all__,
        *_loss_segmentation.__all__,
        *_loss_contrastive.__all__,
        *_loss_robust.__all__,
        *_loss_distribution.__all__,
        *_loss_language.__all__,
        *_distance.__all__,
    ]
