"""Losses (graph tensors, torch's semantics and ``reduction`` names): ``mse_loss``,
``huber_loss``, ``smooth_l1_loss``, ``cross_entropy``, ``nll_loss``,
``binary_cross_entropy``, ``binary_cross_entropy_with_logits``; and ``accuracy``.

A loss whose arguments are refused raises before adding anything to the graph."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, same_shape
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.ops import (
    abs,
    astype,
    equal,
    expand_dims,
    log,
    log_softmax,
    maximum,
    mean,
    not_equal,
    numel,
    softplus,
    square,
    squeeze,
    sum,
    take_along_axis,
    where,
)
from graphc.ops._common import wrap

#: a loss's ``reduction`` argument (torch's names)
_REDUCTIONS = {"mean": mean, "sum": sum, "none": lambda t: t}


@contextlib.contextmanager
def _atomic(*args: Any) -> Iterator[None]:
    """Nodes added inside are dropped again if the block raises (a refused loss changes
    nothing): the graph is the one of the first Tensor among ``args``."""
    ts = [a for a in args if isinstance(a, Tensor)]
    with ts[0].graph.atomic() if ts else contextlib.nullcontext():
        yield


def _check_reduction(reduction: Any, what: str) -> None:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{what}: reduction must be one of {sorted(_REDUCTIONS)}, "
                         f"got {reduction!r}")


def _number(v: Any, what: str, low: float, high: float = math.inf,
            low_open: bool = False) -> float:
    """``v`` as a float in [low, high] ((low, high] when ``low_open``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, got {v!r}")
    v = float(v)
    if not (v > low if low_open else v >= low) or not v <= high or math.isnan(v):
        lo = "(" if low_open else "["
        hi = "]" if math.isfinite(high) else ")"
        raise ValueError(f"{what} must be in {lo}{low:g}, {high:g}{hi}, got {v}")
    return v


def _pair(pred: Any, target: Any, what: str, names: tuple[str, str] = ("prediction", "target"),
          floats: bool = True) -> tuple[Tensor, Tensor]:
    """Two operands of equal shape (no silent broadcast), floats unless ``floats=False``."""
    p, t = wrap([pred, target], what)
    if floats:
        for name, x in zip(names, (p, t)):
            if x.dtype.kind != "f":
                raise TypeError(f"{what}: {name} must be floats, got {x.dtype}; cast it with "
                                "astype")
    if not same_shape(p.shape, t.shape):
        raise ShapeError(at_user(
            f"{what}: {names[0]} {p.shape} and {names[1]} {t.shape} differ; broadcasting them "
            "would compare every pair (e.g. (B, 1) - (B,) -> (B, B)). Reshape one to match."))
    return p, t


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(pred - target)^2, averaged (``reduction="mean"``), summed (``"sum"``) or per element
    (``"none"``); the shapes must be equal (no silent broadcast)."""
    _check_reduction(reduction, "mse_loss")
    with _atomic(pred, target):
        p, t = _pair(pred, target, "mse_loss", floats=False)
        return _REDUCTIONS[reduction](square(p - t))


def huber_loss(pred: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """torch's ``huber_loss``: with ``d = |pred - target|``,

        0.5 d^2                  where d < delta
        delta (d - 0.5 delta)    elsewhere

    quadratic near 0, linear (slope ``delta``) beyond ``delta > 0``. Floats of equal shapes;
    ``reduction``: "mean", "sum" or "none".
    """
    what = "huber_loss"
    _check_reduction(reduction, what)
    delta = _number(delta, f"{what}: delta", 0.0, low_open=True)
    with _atomic(pred, target):
        p, t = _pair(pred, target, what)
        diff = p - t
        d = abs(diff)
        per = where(d < delta, 0.5 * square(diff), delta * (d - 0.5 * delta))
        return _REDUCTIONS[reduction](per)


def smooth_l1_loss(pred: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """torch's ``smooth_l1_loss``: with ``d = |pred - target|``,

        0.5 d^2 / beta    where d < beta
        d - 0.5 beta      elsewhere

    ``huber_loss`` divided by ``beta``; ``beta=0`` is the L1 loss ``|pred - target|``. Floats
    of equal shapes; ``reduction``: "mean", "sum" or "none".
    """
    what = "smooth_l1_loss"
    _check_reduction(reduction, what)
    beta = _number(beta, f"{what}: beta", 0.0)
    with _atomic(pred, target):
        p, t = _pair(pred, target, what)
        diff = p - t
        d = abs(diff)
        if beta == 0:
            per = d
        else:
            per = where(d < beta, (0.5 / beta) * square(diff), d - 0.5 * beta)
        return _REDUCTIONS[reduction](per)


def _labels(logits: Tensor, labels: Any, axis: int, what: str, floats: bool = True
            ) -> tuple[Tensor, Tensor, int]:
    z, y = wrap([logits, labels], what)
    if z.ndim == 0:
        raise ShapeError(at_user(f"{what}: logits must have a class axis, got shape {z.shape}"))
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for shape {z.shape}")
    axis = int(axis) % z.ndim
    if floats and z.dtype.kind != "f":
        raise TypeError(f"{what}: the scores must be floats, got {z.dtype}; cast them with "
                        "astype")
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


def _check_ignore_index(ignore_index: Any, what: str) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{what}: ignore_index must be an int or None, got {ignore_index!r}")
    return int(ignore_index)


def _nll(logp: Tensor, y: Tensor, axis: int, ignore_index: int | None
         ) -> tuple[Tensor, Tensor | None]:
    """``-logp[label]`` per entry (the labels' shape), and the mask of the entries that count
    (None: all do). An ignored entry's loss is 0 and its gradient too."""
    if ignore_index is not None:
        info = np.iinfo(y.dtype)
        if not info.min <= ignore_index <= info.max:
            ignore_index = None  # no label can equal it (-100 and uint8 labels): none ignored
    if ignore_index is None:
        return -squeeze(_pick(logp, y, axis), axis), None
    keep = not_equal(y, ignore_index)
    picked = squeeze(_pick(logp, where(keep, y, 0), axis), axis)
    return where(keep, -picked, 0.0), keep


def _reduce_kept(per: Tensor, keep: Tensor | None, reduction: str) -> Tensor:
    """``reduction`` of per-entry losses; "mean" averages over the entries kept (nan when
    every entry is ignored, as torch's)."""
    if keep is None or reduction != "mean":
        return _REDUCTIONS[reduction](per)
    count = sum(astype(keep, per.dtype))
    some = count > 0
    # nan (and a zero gradient) when nothing counts, as torch; no 0/0 warning from numpy
    return where(some, sum(per) / where(some, count, 1.0), math.nan)


def cross_entropy(logits: Any, labels: Any, axis: int = -1, *, reduction: str = "mean",
                  label_smoothing: float = 0.0, ignore_index: int | None = None) -> Tensor:
    """``-log softmax(logits)[label]``, averaged over the entries (torch's ``cross_entropy``
    with the class axis ``axis``; torch's is axis 1).

    ``labels``: integers (shape of logits without ``axis``) picked with ``take_along_axis``, or
    one-hot / probability rows (the logits' shape). Uses the stable ``log_softmax``.

    - ``reduction``: "mean" (over the entries; with ``ignore_index``, over those not
      ignored), "sum", or "none" (one loss per entry: the labels' shape).
    - ``label_smoothing`` ``e`` in [0, 1]: the target is ``(1 - e) onehot + e / C``, i.e. the
      loss is ``(1 - e) * nll + e * mean_c(-log softmax(logits))``, as torch's.
    - ``ignore_index``: integer labels equal to it add 0 to the loss and its gradient and are
      not counted by the mean (every entry ignored: a nan loss with a zero gradient, as
      torch's). Integer labels only.
    """
    what = "cross_entropy"
    _check_reduction(reduction, what)
    eps = _number(label_smoothing, f"{what}: label_smoothing", 0.0, 1.0)
    ignore = _check_ignore_index(ignore_index, what)
    with _atomic(logits, labels):
        z, y, axis = _labels(logits, labels, axis, what)
        if ignore is not None and y.dtype.kind == "f":
            raise ValueError(f"{what}: ignore_index applies to integer class labels, not to "
                             "one-hot or probability labels")
        logp = log_softmax(z, axis=axis)
        if y.dtype.kind in "iu":
            per, keep = _nll(logp, y, axis, ignore)
        else:
            per, keep = -sum(y * logp, axis=axis), None
        if eps:
            smooth = -mean(logp, axis=axis)
            if keep is not None:
                smooth = where(keep, smooth, 0.0)
            per = (1.0 - eps) * per + eps * smooth
        return _reduce_kept(per, keep, reduction)


def nll_loss(log_probs: Any, labels: Any, axis: int = -1, *, reduction: str = "mean",
             ignore_index: int | None = None) -> Tensor:
    """The negative log-likelihood ``-log_probs[label]`` of integer class labels (torch's
    ``nll_loss``, with the class axis ``axis``): ``cross_entropy`` is ``nll_loss`` of
    ``log_softmax(logits)``.

    ``labels`` have the shape of ``log_probs`` without ``axis``; a label outside
    [0, classes) is an error at run time. ``reduction``: "mean", "sum" or "none" (the labels'
    shape). ``ignore_index``: labels equal to it add 0 and are not counted by the mean.
    """
    what = "nll_loss"
    _check_reduction(reduction, what)
    ignore = _check_ignore_index(ignore_index, what)
    with _atomic(log_probs, labels):
        z, y, axis = _labels(log_probs, labels, axis, what)
        if y.dtype.kind not in "iu":
            raise TypeError(f"{what}: labels must be integer classes, got {y.dtype} (for "
                            "one-hot or probability targets use cross_entropy)")
        per, keep = _nll(z, y, axis, ignore)
        return _reduce_kept(per, keep, reduction)


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


def _log_clamped(q: Tensor, exact: Tensor) -> Tensor:
    """torch's ``max(log q, -100)`` given ``exact`` = log q computed where q > 0 (any finite
    value elsewhere): -100 where q <= 0, with no nan in value or gradient."""
    return where(q > 0, maximum(exact, -100.0), -100.0)


def _log1m(p: Tensor) -> Tensor:
    """log(1 - p), accurate for tiny p (as log1p(-p); Goldberg's form, from graphc ops):
    -p where 1 - p rounds to 1, else log(1 - p) * p / (1 - (1 - p)). Finite (0) where
    p >= 1: the caller clamps there."""
    u = 1.0 - p
    d = u - 1.0
    tiny = equal(d, 0.0)
    safe_u = where(u > 0, u, 1.0)
    return where(tiny, -p, log(safe_u) * (p / where(tiny, -1.0, -d)))


def binary_cross_entropy(probs: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities against targets (torch's
    ``binary_cross_entropy``): ``-(y log p + (1 - y) log(1 - p))`` with each log clamped to
    >= -100, so that p = 0 or 1 costs at most 100 per entry, not inf.

    ``probs`` and ``targets`` are floats of equal shape; ``reduction``: "mean", "sum" or
    "none". A probability outside [0, 1] (or nan) gives a nan loss (torch raises): in
    ``gc.nn.fit`` that is a ``NonFiniteLossError``. The gradient is the derivative of this
    value: it is 0 where a log is clamped (torch's is ``(p - y) / max(p (1 - p), 1e-12)``,
    the same wherever ``p (1 - p) >= 1e-12``). On logits, ``binary_cross_entropy_with_logits``
    is the stable choice.
    """
    what = "binary_cross_entropy"
    _check_reduction(reduction, what)
    with _atomic(probs, targets):
        p, y = _pair(probs, targets, what, ("probs", "targets"))
        log_p = _log_clamped(p, log(where(p > 0, p, 1.0)))
        log_q = _log_clamped(1.0 - p, _log1m(p))
        per = -(y * log_p + (1.0 - y) * log_q)
        # nan outside [0, 1] and for nan: the comparisons are False there
        per = where(p >= 0, where(p <= 1, per, math.nan), math.nan)
        return _REDUCTIONS[reduction](per)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets, as torch's (mean by default).

    Computed as softplus(z) - z y = -(y log sigmoid(z) + (1 - y) log sigmoid(-z)): finite for
    every finite z (no exp overflows), with gradient sigmoid(z) - y. ``reduction``: "mean",
    "sum" or "none". Logits and targets must have equal shapes (no silent broadcast).
    """
    what = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, what)
    with _atomic(logits, targets):
        z, y = _pair(logits, targets, what, ("logits", "targets"))
        return _REDUCTIONS[reduction](softplus(z) - z * y)


def accuracy(logits: Any, labels: Any, axis: int = -1) -> Tensor:
    """Fraction of rows whose true class has the largest logit (no gradient).

    A tie for the largest logit counts as a miss: a model that outputs constants scores 0,
    not 1. One-hot labels pick the true class's logit as ``sum(onehot * logits)``.
    """
    with _atomic(logits, labels):
        z, y, axis = _labels(logits, labels, axis, "accuracy", floats=False)
        if y.dtype.kind in "iu":
            picked = _pick(z, y, axis)
        else:
            picked = sum(y * z, axis=axis, keepdims=True)
        # the true class is the unique maximum: it is the only logit >= its own (nan: none is)
        at_least = sum(astype(z >= picked, np.float64), axis=axis)
        return mean(astype(equal(at_least, 1.0), np.float64))


__all__ = [
    "accuracy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "huber_loss", "mse_loss", "nll_loss", "smooth_l1_loss",
]
