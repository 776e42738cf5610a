"""Optimisers that build update graphs (``gc.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``),
gradient clipping (``clip_grad_norm``) and learning-rate schedules (``StepLR``,
``CosineAnnealingLR``, ``LinearLR``, ``LambdaLR``)."""

from graphc.optim.adam import Adam, AdamW
from graphc.optim.base import Optimizer
from graphc.optim.clip import clip_grad_norm
from graphc.optim.rmsprop import RMSprop
from graphc.optim.schedules import CosineAnnealingLR, LambdaLR, LinearLR, LRScheduler, StepLR
from graphc.optim.sgd import SGD

__all__ = [
    "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "Optimizer",
    "RMSprop", "SGD", "StepLR", "clip_grad_norm",
]
