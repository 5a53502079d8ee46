"""lossgrad.optim: Optimizer, SGD, Adam, AdamW."""

from lossgrad.optim.adam import Adam, AdamW
from lossgrad.optim.optimizer import Optimizer
from lossgrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
