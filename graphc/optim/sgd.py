"""Stochastic gradient descent, with (Nesterov) momentum and L2 weight decay."""

from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.optim.base import Optimizer, _fraction, _positive


class SGD(Optimizer):
    """``p -= lr * g``; with momentum ``mu`` (PyTorch's convention, no dampening):

        v = mu * v + g;  p -= lr * v            (heavy ball)
        v = mu * v + g;  p -= lr * (g + mu * v) (nesterov=True)

    ``weight_decay`` ``wd`` adds ``wd * p`` to the gradient first (L2, as torch's SGD). The
    velocities ``v`` are non-trainable params ``sgd/v/<param name>``, starting at 0.
    ``clip_norm``: see [Optimizer][graphc.optim.Optimizer].
    """

    default_name = "sgd"

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, *, clip_norm: float | None = None,
                 name: str | None = None):
        momentum = _fraction(momentum, "momentum")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        weight_decay = _positive(weight_decay, "weight_decay")
        super().__init__(lr, name, clip_norm)
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.weight_decay = weight_decay

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        out: dict[Tensor, Tensor] = {}
        mu = self.momentum
        for p, g in zip(params, grads, strict=True):
            lr = self._lr_for(p)
            g = self._l2(p, g, self.weight_decay)
            if mu == 0:
                out[p] = p - lr * g
                continue
            v = self.state("v", p)
            v_new = mu * v + g
            step = g + mu * v_new if self.nesterov else v_new
            out[p] = p - lr * step
            out[v] = v_new
        return out

    def config(self) -> tuple:
        """(clip_norm, momentum, nesterov, weight_decay)."""
        return (*super().config(), self.momentum, self.nesterov, self.weight_decay)

    def __repr__(self) -> str:
        return (f"<gc.optim.SGD lr={self.lr:g} momentum={self.momentum:g}"
                f"{' nesterov' if self.nesterov else ''}"
                f"{f' weight_decay={self.weight_decay:g}' if self.weight_decay else ''}"
                f"{f' clip_norm={self.clip_norm:g}' if self.clip_norm is not None else ''}>")


__all__ = ["SGD"]
