"""nn modules: the Module base, layers, activations, containers, losses, distances."""

from typing import TYPE_CHECKING

from lossgrad.nn.modules import distance as _distance
from lossgrad.nn.modules import loss as _loss
from lossgrad.nn.modules import loss_language as _loss_language
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
from lossgrad.nn.modules.loss_language import *  # noqa: F403
from lossgrad.nn.modules.module import Module

if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [
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
        *_loss_language.__all__,
        *_distance.__all__,
    ]
