"""Gradient clipping by the total norm: ``gc.optim.clip_grad_norm``, as torch's
``clip_grad_norm_``, but building graph ops instead of changing gradients in place."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphc.ir.tensor import Tensor
from graphc.ops import abs as abs_
from graphc.ops import astype, maximum, minimum, sqrt
from graphc.ops import max as max_
from graphc.ops import sum as sum_


def clip_grad_norm(grads: Sequence[Tensor], max_norm: float, norm_type: float = 2.0
                   ) -> tuple[list[Tensor], Tensor]:
    """``(clipped grads, total norm)``: the gradients scaled together so that their total norm
    is at most ``max_norm``, with torch's semantics (``torch.nn.utils.clip_grad_norm_``):

        total = norm([norm(g, p) for g in grads], p)
        g *= min(max_norm / (total + 1e-6), 1)

    ``norm_type`` ``p``: 2 (the default), any number > 0, or ``math.inf`` (the largest
    ``|g|``). The total norm is a scalar Tensor (of the grads' dtype; float64 when they
    differ), to compile as an output for monitoring. Use the clipped grads with
    ``opt.updates(loss, params, grads=clipped)``, or give the optimiser ``clip_norm=``,
    which does this inside ``updates`` (and so inside ``gc.nn.fit``).
    """
    grads = _check_grads(grads)
    max_norm = float(max_norm)
    if not math.isfinite(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be a finite number >= 0, got {max_norm}")
    p = float(norm_type)
    if not (p > 0):
        raise ValueError(f"clip_grad_norm: norm_type must be > 0 or math.inf, got {norm_type}")
    dt = np.result_type(*[g.dtype for g in grads])
    g0 = grads[0].graph
    with g0.atomic():
        norms = [_cast(_norm(g, p), dt) for g in grads]
        if math.isinf(p):
            total = norms[0]
            for n in norms[1:]:
                total = maximum(total, n)
        elif p == 2:
            total = sqrt(_add_all([n * n for n in norms]))
        elif p == 1:
            total = _add_all(norms)
        else:
            total = _add_all([n ** p for n in norms]) ** (1.0 / p)
        coef = minimum(max_norm / (total + 1e-6), 1.0)
        clipped = [g * _cast(coef, g.dtype) for g in grads]
    return clipped, total


def _check_grads(grads: Sequence[Tensor]) -> list[Tensor]:
    if isinstance(grads, Tensor) or not isinstance(grads, (list, tuple)):
        raise TypeError("clip_grad_norm takes a list of gradient Tensors "
                        f"(e.g. gc.grad(loss, params)), got {type(grads).__name__}")
    grads = list(grads)
    if not grads:
        raise ValueError("clip_grad_norm: no gradients given")
    g = grads[0].graph if isinstance(grads[0], Tensor) else None
    for k, t in enumerate(grads):
        if g is None:
            raise TypeError(f"clip_grad_norm: grads[{k}] must be a graphc Tensor, "
                            f"got {type(t).__name__}")
        g.own(t, f"clip_grad_norm: grads[{k}]")
        if t.dtype.kind != "f":
            raise TypeError(f"clip_grad_norm: grads[{k}] has dtype {t.dtype}; gradients are "
                            "floats")
    return grads


def _norm(g: Tensor, p: float) -> Tensor:
    """The p-norm of all of ``g``'s entries, as ``torch.linalg.vector_norm``."""
    if math.isinf(p):
        return max_(abs_(g))
    if p == 2:
        return sqrt(sum_(g * g))
    if p == 1:
        return sum_(abs_(g))
    return sum_(abs_(g) ** p) ** (1.0 / p)


def _add_all(ts: list[Tensor]) -> Tensor:
    out = ts[0]
    for t in ts[1:]:
        out = out + t
    return out


def _cast(t: Tensor, dt: np.dtype) -> Tensor:
    return t if t.dtype == dt else astype(t, dt)


__all__ = ["clip_grad_norm"]
