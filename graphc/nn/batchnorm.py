"""Batch normalisation with torch's semantics and parameter names: ``BatchNorm1d`` and
``BatchNorm2d``.

In training mode (``module.train()``, the default) the output is normalised with the
statistics of the batch, and the running statistics are updated: the layer registers the
update with ``Graph.add_state_updates``, so every function compiled from an output that
needs this layer call commits it with its other updates (``gc.nn.fit`` does too), as torch
updates its buffers in ``forward``. In evaluation mode (``module.eval()``) the running
statistics normalise, and nothing is updated. The mode is read when the graph is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.dims import numel as dims_numel
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn import init as initializers
from graphc.nn.module import Module
from graphc.ops import astype, mean, numel, reshape, sqrt
from graphc.ops.random import _real


def _ones(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64):
    return np.ones(shape, dtype)


def _as(t: Tensor, dtype: np.dtype) -> Tensor:
    return t if t.dtype == dtype else astype(t, dtype)


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {v!r}")
    return bool(v)




@dataclasses.dataclass(eq=False, repr=False)
class _BatchNorm(Module):
    """The shared machinery of ``BatchNorm1d`` and ``BatchNorm2d``."""

    num_features: int
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True
    dtype: Any = None
    #: the input ranks the layer takes, and how they read
    _ranks: ClassVar[tuple[int, ...]] = ()
    _layout: ClassVar[str] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        n = self.num_features
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{name}: num_features must be an int, got {n!r}")
        if n < 1:
            raise ValueError(f"{name}: num_features must be >= 1, got {n}")
        self.num_features = int(n)
        self.eps = _real(self.eps, f"{name}: eps")
        if self.eps < 0:
            raise ValueError(f"{name}: eps must be >= 0, got {self.eps!r}")
        if self.momentum is not None:
            self.momentum = _real(self.momentum, f"{name}: momentum")
            if not 0.0 <= self.momentum <= 1.0:
                raise ValueError(f"{name}: momentum must be in [0, 1] or None, got "
                                 f"{self.momentum!r}")
        self.affine = _flag(self.affine, f"{name}: affine")
        self.track_running_stats = _flag(self.track_running_stats,
                                         f"{name}: track_running_stats")
        if self.dtype is not None and np.dtype(self.dtype).kind != "f":
            raise TypeError(f"{name}: dtype must be a float dtype, got {np.dtype(self.dtype)}")
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        self.running_mean: Tensor | None = None
        self.running_var: Tensor | None = None
        self.num_batches_tracked: Tensor | None = None

    def _check(self, x: Any) -> None:
        name, C = type(self).__name__, self.num_features
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: x must be a graphc Tensor, got {type(x).__name__}")
        if x.ndim not in self._ranks or not definitely_equal(x.shape[1], C):
            raise ShapeError(at_user(f"{name}({C}) expects inputs {self._layout.format(C=C)}, "
                                     f"got {x.shape}"))
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name}: x must have a float or integer dtype, got {x.dtype}")

    def build(self, x: Tensor) -> None:
        self._check(x)
        C = (self.num_features,)
        dt = np.dtype(self.dtype) if self.dtype is not None else (
            x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))
        if self.affine:
            self.weight = self.param("weight", _ones, C, dt)
            self.bias = self.param("bias", initializers.zeros, C, dt)
        if self.track_running_stats:
            self.running_mean = self.param("running_mean", initializers.zeros, C, dt,
                                           trainable=False)
            self.running_var = self.param("running_var", _ones, C, dt, trainable=False)
            self.num_batches_tracked = self.param(
                "num_batches_tracked", lambda rng, shape, dtype: np.zeros(shape, dtype), (),
                np.int64, trainable=False)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        axes = (0, *range(2, x.ndim))
        per_channel = (self.num_features,) + (1,) * (x.ndim - 2)  # broadcasts along axis 1
        training = bool(self.training)
        if training or not self.track_running_stats:
            n = dims_numel(x.shape[a] for a in axes)
            if training and self.track_running_stats and isinstance(n, int) and n <= 1:
                raise ShapeError(at_user(
                    f"{type(self).__name__}: training needs more than 1 value per channel "
                    f"for the unbiased running variance, got input shape {x.shape}"))
            batch_mean = mean(x, axis=axes, keepdims=True)
            centred = x - batch_mean
            batch_var = mean(centred * centred, axis=axes, keepdims=True)
            y = centred / sqrt(batch_var + self.eps)
        else:
            y = (x - reshape(self.running_mean, per_channel)) / sqrt(
                reshape(self.running_var, per_channel) + self.eps)
        if self.affine:
            y = y * reshape(self.weight, per_channel) + reshape(self.bias, per_channel)
        if training and self.track_running_stats:
            self._register_update(x, axes, batch_mean, batch_var)
        return y

    def _register_update(self, x: Tensor, axes: tuple[int, ...], batch_mean: Tensor,
                         batch_var: Tensor) -> None:
        """The running statistics' update, registered with the graph (see the module
        docstring), keyed on this call's batch mean."""
        C = (self.num_features,)
        rm, rv, nbt = self.running_mean, self.running_var, self.num_batches_tracked
        dt = rm.dtype
        n = numel(x, axes, dtype=dt)
        unbiased = reshape(batch_var, C) * (n / (n - 1.0))
        count = nbt + 1
        factor: Any = self.momentum if self.momentum is not None else 1.0 / astype(count, dt)
        new_mean = rm * (1.0 - factor) + reshape(batch_mean, C) * factor
        new_var = rv * (1.0 - factor) + unbiased * factor
        x.graph.add_state_updates(batch_mean, {rm: _as(new_mean, dt), rv: _as(new_var, dt),
                                               nbt: count})


@dataclasses.dataclass(eq=False, repr=False)
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, as torch's ``BatchNorm1d``:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` per channel (axis 1), the statistics
    over every other axis.

    Training mode: the batch's mean and biased variance normalise; with
    ``track_running_stats`` the running statistics become ``(1 - momentum) * running +
    momentum * batch`` (the variance unbiased: times n / (n - 1), n the values per channel),
    and ``num_batches_tracked`` counts the batches (``momentum=None``: a cumulative average,
    ``1 / num_batches_tracked`` as the momentum). Evaluation mode: ``running_mean`` and
    ``running_var`` normalise (the batch's statistics without ``track_running_stats``).

    Params (torch's names): ``weight`` (ones) and ``bias`` (zeros), trainable, with
    ``affine``; ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``
    (int64 0), not trainable, with ``track_running_stats``. ``dtype`` of the float params:
    None follows the input (float64 for integer inputs).

    A training batch with one value per channel has no unbiased variance (torch raises):
    a ShapeError when the graph is built if that is known then; with a symbolic batch size
    bound to 1, the running variance becomes nan.
    """

    _ranks: ClassVar[tuple[int, ...]] = (2, 3)
    _layout: ClassVar[str] = "(N, {C}) or (N, {C}, L)"


@dataclasses.dataclass(eq=False, repr=False)
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, as torch's ``BatchNorm2d``: the
    statistics per channel over N, H and W; the modes, params and running statistics as
    ``BatchNorm1d``'s."""

    _ranks: ClassVar[tuple[int, ...]] = (4,)
    _layout: ClassVar[str] = "(N, {C}, H, W)"


__all__ = ["BatchNorm1d", "BatchNorm2d"]
