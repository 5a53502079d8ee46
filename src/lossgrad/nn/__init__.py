"""lossgrad.nn: modules, parameters, functional, init (torch.nn's names)."""

from typing import TYPE_CHECKING

from lossgrad.nn import functional, init, modules, parallel
from lossgrad.nn.modules import *  # noqa: F403
from lossgrad.nn.parameter import Buffer, Parameter

if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = ["Buffer", "Parameter", "functional", "init", "parallel", *modules.__all__]
