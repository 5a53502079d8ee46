"""lossgrad.nn: modules, parameters, functional, init (torch.nn's names)."""

from lossgrad.nn import functional, init
from lossgrad.nn.modules import *  # noqa: F403
from lossgrad.nn.modules.module import Module
from lossgrad.nn.parameter import Buffer, Parameter

__all__ = ["Buffer", "Module", "Parameter", "functional", "init"]
