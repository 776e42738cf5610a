"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR`` (with an optional linear warmup),
``LinearLR``, ``LambdaLR``, the values of torch's ``torch.optim.lr_scheduler`` classes.

A schedule sets ``optimizer.lr``, a graph param: compiled steps see the new rate on their
next call, nothing is recompiled. As in torch, making a schedule sets the rate of epoch 0,
and each ``step()`` moves to the next epoch (or step: the unit is whatever you call
``step()`` after). A schedule is also an ``on_epoch_end`` hook for ``gc.nn.fit``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from graphc.optim.base import Optimizer


class LRScheduler:
    """Base of the schedules: ``lr_at(epoch)`` from ``base_lr`` (the optimiser's rate when the
    schedule was made), set on the optimiser at construction (epoch 0) and by each
    ``step()``.

    Values come from the closed form, so they equal torch's (which updates the rate
    recursively) up to rounding, and a rate set by hand in between is overwritten by the
    next ``step()``. Give an optimiser one schedule at a time: a second one would take the
    first one's current rate as its base.
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs a gc.optim optimiser, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        #: the rate the schedule scales (the optimiser's when the schedule was made)
        self.base_lr = optimizer.lr
        #: the epoch (number of ``step()`` calls) whose rate the optimiser has
        self.last_epoch = 0
        optimizer.lr = self._checked(0)

    def lr_at(self, epoch: int) -> float:
        """The learning rate at ``epoch`` (0: before the first ``step()``)."""
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """The current rate, ``lr_at(last_epoch)``."""
        return self.lr_at(self.last_epoch)

    def step(self) -> float:
        """Move to the next epoch: set the optimiser's rate for it; returns that rate."""
        lr = self._checked(self.last_epoch + 1)
        self.optimizer.lr = lr
        self.last_epoch += 1
        return lr

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        """``step()``, as a hook: ``gc.nn.fit(..., on_epoch_end=schedule)``. Returns None, so
        it never stops the training."""
        self.step()

    def _checked(self, epoch: int) -> float:
        lr = float(self.lr_at(epoch))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"{type(self).__name__}: the rate at epoch {epoch} is {lr}; a "
                             "learning rate must be a finite number >= 0")
        return lr

    def __repr__(self) -> str:
        return (f"<gc.optim.{type(self).__name__} epoch={self.last_epoch} lr={self.lr:g} "
                f"base_lr={self.base_lr:g}>")


class StepLR(LRScheduler):
    """``base_lr * gamma ** (epoch // step_size)``: the rate times ``gamma`` every
    ``step_size`` epochs (torch's ``StepLR``)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _count(step_size, "step_size", 1)
        self.gamma = _number(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs (torch's
    ``CosineAnnealingLR``), after an optional linear warmup of ``warmup`` epochs from
    ``base_lr * warmup_start_factor``:

        epoch < warmup:  base_lr * (f + (1 - f) * epoch / warmup)
        otherwise:       eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2,
                         e = epoch - warmup

    With a warmup this is torch's ``SequentialLR([LinearLR(optimizer, f, 1.0, warmup),
    CosineAnnealingLR(optimizer, T_max, eta_min)], milestones=[warmup])``: ``warmup + T_max``
    epochs in all. Past them the rate rises again along the cosine, as torch's does.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 warmup: int = 0, warmup_start_factor: float = 1.0 / 3):
        self.T_max = _count(T_max, "T_max", 1)
        self.eta_min = _number(eta_min, "eta_min")
        self.warmup = _count(warmup, "warmup", 0)
        self.warmup_start_factor = _factor(warmup_start_factor, "warmup_start_factor")
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        w = self.warmup
        if epoch < w:
            f = self.warmup_start_factor
            return self.base_lr * (f + (1.0 - f) * epoch / w)
        cos = math.cos(math.pi * (epoch - w) / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + cos) / 2


class LinearLR(LRScheduler):
    """The rate times a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then staying there (torch's ``LinearLR``, same defaults):

        base_lr * (a + (b - a) * min(epoch, total_iters) / total_iters)

    with ``a = start_factor``, ``b = end_factor``. A linear warmup:
    ``LinearLR(opt, start_factor=0.1, total_iters=5)``.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5):
        self.start_factor = _factor(start_factor, "start_factor")
        self.end_factor = _factor(end_factor, "end_factor")
        self.total_iters = _count(total_iters, "total_iters", 1)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        a, b = self.start_factor, self.end_factor
        return self.base_lr * (a + (b - a) * min(epoch, self.total_iters) / self.total_iters)


class LambdaLR(LRScheduler):
    """``base_lr * lr_lambda(epoch)``, any schedule as a function (torch's ``LambdaLR``)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]):
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function epoch -> factor, got "
                            f"{type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * float(self.lr_lambda(epoch))


def _count(v: Any, what: str, least: int) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {v!r}") from None
    if v < least:
        raise ValueError(f"{what} must be >= {least}, got {v}")
    return v


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool):
        raise TypeError(f"{what} must be a number, got {v!r}")
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {v}")
    return v


def _factor(v: Any, what: str) -> float:
    v = _number(v, what)
    if v > 1:
        raise ValueError(f"{what} must be in [0, 1], got {v}")
    return v


__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "StepLR"]
