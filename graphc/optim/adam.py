"""Adam (Kingma and Ba, 2015), bias-corrected."""

from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.ops import sqrt
from graphc.optim.base import Optimizer, _positive


class Adam(Optimizer):
    """With step count t (from 1) and gradient g:

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    State: ``adam/t`` (float64 scalar) and ``adam/m/<param>``, ``adam/v/<param>``.
    """

    default_name = "adam"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, name: str | None = None):
        super().__init__(lr, name)
        b1, b2 = (float(b) for b in betas)
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.betas = (b1, b2)
        self.eps = _positive(eps, "eps")

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        b1, b2 = self.betas
        t = self.scalar_state("t", 0.0)
        t_new = t + 1.0
        # bias corrections, scalars shared by every param
        c1 = 1.0 - b1 ** t_new
        c2 = 1.0 - b2 ** t_new
        out: dict[Tensor, Tensor] = {t: t_new}
        for p, g in zip(params, grads, strict=True):
            m, v = self.state("m", p), self.state("v", p)
            m_new = b1 * m + (1.0 - b1) * g
            v_new = b2 * v + (1.0 - b2) * (g * g)
            cc1 = c1 if c1.dtype == p.dtype else c1.astype(p.dtype)
            cc2 = c2 if c2.dtype == p.dtype else c2.astype(p.dtype)
            out[p] = p - self._lr_for(p) * (m_new / cc1) / (sqrt(v_new / cc2) + self.eps)
            out[m] = m_new
            out[v] = v_new
        return out

    def config(self) -> tuple:
        """(betas, eps)."""
        return (self.betas, self.eps)

    def __repr__(self) -> str:
        return f"<gc.optim.Adam lr={self.lr:g} betas={self.betas} eps={self.eps:g}>"


__all__ = ["Adam"]
