"""Losses (scalar graph tensors): ``mse_loss``, ``cross_entropy``,
``binary_cross_entropy_with_logits``; and ``accuracy``."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, same_shape
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.ops import (
    astype,
    equal,
    expand_dims,
    log_softmax,
    mean,
    numel,
    softplus,
    square,
    sum,
    take_along_axis,
    where,
)
from graphc.ops._common import wrap


def mse_loss(pred: Any, target: Any) -> Tensor:
    """mean((pred - target)^2); the shapes must be equal (no silent broadcast)."""
    p, t = wrap([pred, target], "mse_loss")
    if not same_shape(p.shape, t.shape):
        raise ShapeError(at_user(
            f"mse_loss: prediction {p.shape} and target {t.shape} differ; broadcasting them "
            "would compare every pair (e.g. (B, 1) - (B,) -> (B, B)). Reshape one to match."))
    return mean(square(p - t))


def _labels(logits: Tensor, labels: Any, axis: int, what: str) -> tuple[Tensor, Tensor, int]:
    z, y = wrap([logits, labels], what)
    axis = axis % z.ndim if z.ndim else 0
    if z.ndim == 0:
        raise ShapeError(at_user(f"{what}: logits must have a class axis, got shape {z.shape}"))
    if y.dtype.kind in "iu":
        want = Shape([d for i, d in enumerate(z.shape) if i != axis])
        if not same_shape(y.shape, want):
            hint = (" (one-hot labels must be floats: cast them with astype)"
                    if same_shape(y.shape, z.shape) else "")
            raise ShapeError(at_user(f"{what}: integer labels must have shape {want} (logits "
                                     f"{z.shape} without the class axis), got {y.shape}{hint}"))
    elif y.dtype.kind == "f":
        if not same_shape(y.shape, z.shape):
            raise ShapeError(at_user(f"{what}: one-hot (or probability) labels must have the "
                                     f"logits' shape {z.shape}, got {y.shape}"))
    else:
        raise TypeError(f"{what}: labels must be integers or floats, got {y.dtype}")
    return z, y, axis


def cross_entropy(logits: Any, labels: Any, axis: int = -1) -> Tensor:
    """Mean of -log softmax(logits)[label] over the batch.

    ``labels``: integers (shape of logits without ``axis``) picked with ``take_along_axis``, or
    one-hot / probability rows (the logits' shape). Uses the stable ``log_softmax``.
    """
    z, y, axis = _labels(logits, labels, axis, "cross_entropy")
    logp = log_softmax(z, axis=axis)
    if y.dtype.kind in "iu":
        return -mean(_pick(logp, y, axis))
    return -mean(sum(y * logp, axis=axis))


def _pick(z: Tensor, y: Tensor, axis: int) -> Tensor:
    """``z``'s entry at integer label ``y`` along ``axis``. A label outside [0, n) is an
    error at run time: numpy would take -1 as the last class, so a negative label is sent
    out of range (to n), where take_along_axis refuses it."""
    if y.dtype.kind == "i":
        n = astype(numel(z, (axis % z.ndim,), np.float64), y.dtype)
        y = where(y < 0, n, y)
    with z.graph.annotate(hint="class labels must be in [0, number of classes); a negative "
                               "label is refused, not taken from the end"):
        return take_along_axis(z, expand_dims(y, axis), axis=axis)


#: a loss's ``reduction`` argument (torch's names)
_REDUCTIONS = {"mean": mean, "sum": sum, "none": lambda t: t}


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets, as torch's (mean by default).

    Computed as softplus(z) - z y = -(y log sigmoid(z) + (1 - y) log sigmoid(-z)): finite for
    every finite z (no exp overflows), with gradient sigmoid(z) - y. ``reduction``: "mean",
    "sum" or "none". Logits and targets must have equal shapes (no silent broadcast).
    """
    what = "binary_cross_entropy_with_logits"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{what}: reduction must be one of {sorted(_REDUCTIONS)}, "
                         f"got {reduction!r}")
    z, y = wrap([logits, targets], what)
    for name, t in (("logits", z), ("targets", y)):
        if t.dtype.kind != "f":
            raise TypeError(f"{what}: {name} must be floats (targets: probabilities in "
                            f"[0, 1]), got {t.dtype}; cast them with astype")
    if not same_shape(z.shape, y.shape):
        raise ShapeError(at_user(
            f"{what}: logits {z.shape} and targets {y.shape} differ; broadcasting them would "
            "compare every pair (e.g. (B, 1) - (B,) -> (B, B)). Reshape one to match."))
    return _REDUCTIONS[reduction](softplus(z) - z * y)


def accuracy(logits: Any, labels: Any, axis: int = -1) -> Tensor:
    """Fraction of rows whose true class has the largest logit (no gradient).

    A tie for the largest logit counts as a miss: a model that outputs constants scores 0,
    not 1. One-hot labels pick the true class's logit as ``sum(onehot * logits)``.
    """
    z, y, axis = _labels(logits, labels, axis, "accuracy")
    if y.dtype.kind in "iu":
        picked = _pick(z, y, axis)
    else:
        picked = sum(y * z, axis=axis, keepdims=True)
    # the true class is the unique maximum: it is the only logit >= its own (nan: none is)
    at_least = sum(astype(z >= picked, np.float64), axis=axis)
    return mean(astype(equal(at_least, 1.0), np.float64))


__all__ = ["accuracy", "binary_cross_entropy_with_logits", "cross_entropy", "mse_loss"]
