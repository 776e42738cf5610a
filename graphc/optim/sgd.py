"""Stochastic gradient descent, with (Nesterov) momentum."""

from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.optim.base import Optimizer, _positive


class SGD(Optimizer):
    """``p -= lr * g``; with momentum ``mu`` (PyTorch's convention, no dampening):

        v = mu * v + g;  p -= lr * v            (heavy ball)
        v = mu * v + g;  p -= lr * (g + mu * v) (nesterov=True)

    The velocities ``v`` are non-trainable params ``sgd/v/<param name>``, starting at 0.
    """

    default_name = "sgd"

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 name: str | None = None):
        super().__init__(lr, name)
        self.momentum = _positive(momentum, "momentum")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        out: dict[Tensor, Tensor] = {}
        mu = self.momentum
        for p, g in zip(params, grads, strict=True):
            lr = self._lr_for(p)
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
        """(momentum, nesterov)."""
        return (self.momentum, self.nesterov)

    def __repr__(self) -> str:
        return (f"<gc.optim.SGD lr={self.lr:g} momentum={self.momentum:g}"
                f"{' nesterov' if self.nesterov else ''}>")


__all__ = ["SGD"]
