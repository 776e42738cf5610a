"""``gc.nn.dropout``: zero each entry with probability p while training, scale the rest."""

from __future__ import annotations

import numpy as np

from graphc.ir.tensor import Tensor
from graphc.ops import multiply, zeros_like
from graphc.ops.random import _probability, bernoulli


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: while ``training``, each entry of ``x`` is zeroed with probability
    ``p`` (a float in [0, 1]) and the others are scaled by 1/(1 - p), so the expected value is
    ``x``: ``x * mask / (1 - p)`` with ``mask = gc.random.bernoulli(x, 1 - p, x.shape)``.
    ``training=False`` or ``p == 0`` returns ``x`` itself; ``p == 1`` gives zeros.

    The mask is drawn from the graph's generator state (``gc.random``): each call of a
    compiled function draws a new one, ``gc.evaluate`` uses the current state (so evaluating
    twice, as ``gc.check_grad`` does, sees the same mask). The gradient flows to ``x`` through
    the mask. For validation, build the loss again with ``training=False``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout: x must be a graphc Tensor, got {type(x).__name__}")
    if np.dtype(x.dtype).kind != "f":
        raise TypeError(f"dropout: x must have a float dtype, got {x.dtype}")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"dropout: training must be True or False, got {training!r}")
    try:
        p = _probability(p)
    except (TypeError, ValueError) as e:
        raise type(e)(f"dropout: {e}") from None
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return zeros_like(x)
    mask = bernoulli(x, 1.0 - p, x.shape, dtype=x.dtype)
    return multiply(x, multiply(mask, 1.0 / (1.0 - p)))


__all__ = ["dropout"]
