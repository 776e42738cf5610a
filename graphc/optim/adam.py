"""Adam (Kingma and Ba, 2015), bias-corrected, with L2 weight decay; and AdamW (Loshchilov
and Hutter, 2019), whose weight decay is decoupled from the gradient."""

from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.ops import sqrt
from graphc.optim.base import Optimizer, _positive


class Adam(Optimizer):
    """With step count t (from 1) and gradient g:

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``weight_decay`` ``wd`` adds ``wd * p`` to the gradient first (L2, as torch's Adam; see
    [AdamW][graphc.optim.AdamW] for the decoupled form). State: ``adam/t`` (float64 scalar)
    and ``adam/m/<param>``, ``adam/v/<param>``. ``clip_norm``: see
    [Optimizer][graphc.optim.Optimizer].
    """

    default_name = "adam"
    #: AdamW: decay the params by ``lr * weight_decay`` instead of adding to the gradient
    decoupled = False

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 clip_norm: float | None = None, name: str | None = None):
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        eps = _positive(eps, "eps")
        weight_decay = _positive(weight_decay, "weight_decay")
        super().__init__(lr, name, clip_norm)
        self.betas = (b1, b2)
        self.eps = eps
        self.weight_decay = weight_decay

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        b1, b2 = self.betas
        wd = self.weight_decay
        t = self.scalar_state("t", 0.0)
        t_new = t + 1.0
        # bias corrections, scalars shared by every param
        c1 = 1.0 - b1 ** t_new
        c2 = 1.0 - b2 ** t_new
        out: dict[Tensor, Tensor] = {t: t_new}
        for p, g in zip(params, grads, strict=True):
            lr = self._lr_for(p)
            if self.decoupled:
                p0 = p if wd == 0 else p * (1.0 - lr * wd)
            else:
                p0, g = p, self._l2(p, g, wd)
            m, v = self.state("m", p), self.state("v", p)
            m_new = b1 * m + (1.0 - b1) * g
            v_new = b2 * v + (1.0 - b2) * (g * g)
            cc1 = c1 if c1.dtype == p.dtype else c1.astype(p.dtype)
            cc2 = c2 if c2.dtype == p.dtype else c2.astype(p.dtype)
            out[p] = p0 - lr * (m_new / cc1) / (sqrt(v_new / cc2) + self.eps)
            out[m] = m_new
            out[v] = v_new
        return out

    def config(self) -> tuple:
        """(clip_norm, betas, eps, weight_decay)."""
        return (*super().config(), self.betas, self.eps, self.weight_decay)

    def __repr__(self) -> str:
        wd = f" weight_decay={self.weight_decay:g}" if self.weight_decay or self.decoupled else ""
        clip = f" clip_norm={self.clip_norm:g}" if self.clip_norm is not None else ""
        return (f"<gc.optim.{type(self).__name__} lr={self.lr:g} betas={self.betas} "
                f"eps={self.eps:g}{wd}{clip}>")


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch's ``AdamW`` (same defaults, weight decay
    0.01): each step first shrinks the params, then takes the Adam step with the plain
    gradient:

        p *= 1 - lr * weight_decay
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    The decay follows the learning rate (and so a schedule). State as Adam's, under
    ``adamw/``.
    """

    default_name = "adamw"
    decoupled = True

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, *,
                 clip_norm: float | None = None, name: str | None = None):
        super().__init__(lr, betas, eps, weight_decay, clip_norm=clip_norm, name=name)


__all__ = ["Adam", "AdamW"]
