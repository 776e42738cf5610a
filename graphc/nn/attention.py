"""Multi-head attention with torch's parameter layout (``nn.MultiheadAttention`` with
``batch_first=True``): ``in_proj_weight`` (3E, E), ``in_proj_bias`` (3E,),
``out_proj_weight`` (E, E), ``out_proj_bias`` (E,), applied as ``x @ W.T + b``, so weights
copied from torch give torch's outputs. The sequence lengths may be symbolic; ``causal=True``
masks with ``gc.tril`` of ones of the symbolic (T, S), computed once per binding."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn import init as initializers
from graphc.nn.module import Module
from graphc.ops import matmul, reshape, softmax, swapaxes, transpose, tril, where


def _xavier(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64):
    """torch's xavier_uniform_ for the (3E, E) in-projection."""
    bound = math.sqrt(6.0 / (shape[0] / 3 + shape[1]))
    return rng.uniform(-bound, bound, shape).astype(dtype)


@dataclasses.dataclass(eq=False, repr=False)
class MultiHeadAttention(Module):
    """Scaled dot-product attention over ``num_heads`` heads of ``embed_dim // num_heads``.

    ``mha(x)`` is self-attention; ``mha(q, k, v)`` attends from q (B, T, E) to k, v (B, S, E).
    ``causal=True`` lets position t see positions 0..t only (T and S may be symbolic).
    Returns (B, T, E).
    """

    embed_dim: int
    num_heads: int
    bias: bool = True
    causal: bool = False
    dtype: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for v, what in ((self.embed_dim, "embed_dim"), (self.num_heads, "num_heads")):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"MultiHeadAttention: {what} must be an int >= 1, got {v!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim {self.embed_dim} is not divisible "
                             f"by num_heads {self.num_heads}")
        self.params: dict[str, Tensor] = {}

    def build(self, q: Tensor, k: Tensor | None = None, v: Tensor | None = None) -> None:
        E = self.embed_dim
        for t, what in ((q, "query"), (k, "key"), (v, "value")):
            if t is not None and (t.ndim != 3 or not definitely_equal(t.shape[-1], E)):
                raise ShapeError(at_user(f"MultiHeadAttention({E}, {self.num_heads}): {what} "
                                         f"must be (B, T, {E}), got {t.shape}"))
        dt = self.dtype if self.dtype is not None else (
            q.dtype if q.dtype.kind == "f" else np.dtype(np.float64))
        self.params["in_proj_weight"] = self.param("in_proj_weight", _xavier, (3 * E, E), dt)
        out_bound = 1.0 / math.sqrt(E)

        def out_init(rng, shape, dtype=np.float64):
            return rng.uniform(-out_bound, out_bound, shape).astype(dtype)

        self.params["out_proj_weight"] = self.param("out_proj_weight", out_init, (E, E), dt)
        if self.bias:
            self.params["in_proj_bias"] = self.param("in_proj_bias", initializers.zeros,
                                                     (3 * E,), dt)
            self.params["out_proj_bias"] = self.param("out_proj_bias", initializers.zeros,
                                                      (E,), dt)

    def _project(self, x: Tensor, k: int) -> Tensor:
        E = self.embed_dim
        W = self.params["in_proj_weight"][k * E:(k + 1) * E]
        y = matmul(x, swapaxes(W, 0, 1))
        if self.bias:
            y = y + self.params["in_proj_bias"][k * E:(k + 1) * E]
        heads = reshape(y, (x.shape[0], x.shape[1], self.num_heads, E // self.num_heads))
        return transpose(heads, (0, 2, 1, 3))  # (B, H, T, hd)

    def forward(self, q: Tensor, k: Tensor | None = None, v: Tensor | None = None) -> Tensor:
        k = q if k is None else k
        v = k if v is None else v
        qh, kh, vh = self._project(q, 0), self._project(k, 1), self._project(v, 2)
        scores = matmul(qh, swapaxes(kh, -1, -2)) / math.sqrt(self.embed_dim // self.num_heads)
        if self.causal:
            T, S = q.shape[1], k.shape[1]
            mask = tril(q.graph.ones((T, S), bool))
            scores = where(mask, scores, -np.inf)
        att = softmax(scores, axis=-1)
        out = transpose(matmul(att, vh), (0, 2, 1, 3))  # (B, T, H, hd)
        out = reshape(out, (q.shape[0], q.shape[1], self.embed_dim))
        y = matmul(out, swapaxes(self.params["out_proj_weight"], 0, 1))
        return y + self.params["out_proj_bias"] if self.bias else y


__all__ = ["MultiHeadAttention"]
