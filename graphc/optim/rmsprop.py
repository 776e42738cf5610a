"""RMSprop (Hinton's lecture notes; torch's variant, with momentum and the centered form)."""

from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.ops import sqrt
from graphc.optim.base import Optimizer, _fraction, _positive


class RMSprop(Optimizer):
    """torch's ``RMSprop``, with the same defaults. With gradient ``g`` (plus
    ``weight_decay * p``, L2, when given):

        s = alpha s + (1 - alpha) g^2
        d = sqrt(s) + eps                                  (centered=False)
        a = alpha a + (1 - alpha) g;  d = sqrt(s - a^2) + eps  (centered=True)
        p -= lr * g / d                                    (momentum = 0)
        b = momentum b + g / d;  p -= lr * b               (momentum > 0)

    State, starting at 0: ``rmsprop/square_avg/<param>``, and ``rmsprop/grad_avg/<param>``
    (centered) and ``rmsprop/momentum_buffer/<param>`` (momentum > 0). ``clip_norm``: see
    [Optimizer][graphc.optim.Optimizer].
    """

    default_name = "rmsprop"

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 clip_norm: float | None = None, name: str | None = None):
        alpha = _fraction(alpha, "alpha")
        eps = _positive(eps, "eps")
        weight_decay = _positive(weight_decay, "weight_decay")
        momentum = _fraction(momentum, "momentum")
        super().__init__(lr, name, clip_norm)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, bool(centered)

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        a = self.alpha
        out: dict[Tensor, Tensor] = {}
        for p, g in zip(params, grads, strict=True):
            lr = self._lr_for(p)
            g = self._l2(p, g, self.weight_decay)
            s = self.state("square_avg", p)
            s_new = a * s + (1.0 - a) * (g * g)
            out[s] = s_new
            if self.centered:
                ga = self.state("grad_avg", p)
                ga_new = a * ga + (1.0 - a) * g
                out[ga] = ga_new
                d = sqrt(s_new - ga_new * ga_new) + self.eps
            else:
                d = sqrt(s_new) + self.eps
            if self.momentum > 0:
                b = self.state("momentum_buffer", p)
                b_new = self.momentum * b + g / d
                out[b] = b_new
                out[p] = p - lr * b_new
            else:
                out[p] = p - lr * (g / d)
        return out

    def config(self) -> tuple:
        """(clip_norm, alpha, eps, weight_decay, momentum, centered)."""
        return (*super().config(), self.alpha, self.eps, self.weight_decay, self.momentum,
                self.centered)

    def __repr__(self) -> str:
        return (f"<gc.optim.RMSprop lr={self.lr:g} alpha={self.alpha:g} eps={self.eps:g}"
                f"{f' weight_decay={self.weight_decay:g}' if self.weight_decay else ''}"
                f"{f' momentum={self.momentum:g}' if self.momentum else ''}"
                f"{' centered' if self.centered else ''}"
                f"{f' clip_norm={self.clip_norm:g}' if self.clip_norm is not None else ''}>")


__all__ = ["RMSprop"]
