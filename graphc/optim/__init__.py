"""Optimisers that build update graphs: ``gc.optim.SGD``, ``gc.optim.Adam``."""

from graphc.optim.adam import Adam
from graphc.optim.base import Optimizer
from graphc.optim.sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]
