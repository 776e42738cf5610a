"""``Embedding``: a lookup table with torch's layout (``weight`` of (num_embeddings,
embedding_dim)) and its ``padding_idx`` (a row that gets no gradient)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from graphc.ir.tensor import Tensor
from graphc.nn.module import Module
from graphc.ops import (
    abs as _abs,
)
from graphc.ops import (
    astype,
    equal,
    exp2,
    expand_dims,
    floor,
    isfinite,
    isnan,
    log2,
    logical_or,
    maximum,
    take,
    where,
)

#: the smallest float64 magnitude (a subnormal): log2 of it is finite
_TINY = 2.0 ** -1074


def _no_gradient(w: Tensor) -> Tensor:
    """``w``'s value with no gradient (graphc has no stop-gradient op yet). Every finite
    float64 ``w`` is ``m * 2**-k`` with an integer ``|m| < 2**55`` for ``k = 53 - e`` and
    ``e = floor(log2 |w|)`` (off by one where log2 rounds, which still leaves m an integer;
    k >= 1074 for a subnormal, a multiple of 2**-1074), so the int64 cast of ``w * 2**k``
    is exact, and dividing it by the power of two gives ``w`` back, bit for bit (but for
    the sign of -0.0). The scaling goes in two halves so that no power of two overflows.
    The gradient stops at the cast and at ``floor``. float32 goes through float64; nan and
    +-inf are made from comparisons."""
    w64 = w if w.dtype == np.float64 else astype(w, np.float64)
    finite = isfinite(w64)
    safe = where(finite, w64, 0.0)
    k = 53.0 - floor(log2(maximum(_abs(safe), _TINY)))   # <= 1127
    k1 = floor(k * 0.5)
    s1, s2 = exp2(k1), exp2(k - k1)                      # each <= 2**564
    back = astype(astype(safe * s1 * s2, np.int64), np.float64) / s1 / s2
    special = where(isnan(w64), np.nan, where(w64 > 0, np.inf, -np.inf))
    out = where(finite, back, special)
    return out if w.dtype == np.float64 else astype(out, w.dtype)


def _count(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"Embedding: {what} must be an int, got {v!r}")
    if v < 1:
        raise ValueError(f"Embedding: {what} must be >= 1, got {v}")
    return int(v)


@dataclasses.dataclass(eq=False, repr=False)
class Embedding(Module):
    """``weight[ids]``: the rows of ``weight`` (num_embeddings, embedding_dim) at the integer
    ``ids`` of any shape (symbolic dims too), giving ``ids.shape + (embedding_dim,)``
    (``gc.take(weight, ids, axis=0)``). ``weight`` starts N(0, 1), as torch's.

    ``padding_idx`` (an int in [-num_embeddings, num_embeddings), negative counting from
    the end, as torch): that row starts at zeros and gets no gradient (its value is still
    what the lookup returns, as in torch, where it may be set to another padding vector).
    An id outside [-num_embeddings, num_embeddings) is an error when the graph runs (a
    negative id counts from the end, as numpy's take, where torch raises).
    ``dtype`` of ``weight``: float64 unless told.
    """

    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    dtype: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.num_embeddings = _count(self.num_embeddings, "num_embeddings")
        self.embedding_dim = _count(self.embedding_dim, "embedding_dim")
        n, p = self.num_embeddings, self.padding_idx
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
                raise TypeError(f"Embedding: padding_idx must be an int or None, got {p!r}")
            if not -n <= p < n:
                raise ValueError(f"Embedding: padding_idx must be in [{-n}, {n}) (the "
                                 f"num_embeddings {n}), got {p}")
            self.padding_idx = int(p) % n
        dt = np.dtype(np.float64 if self.dtype is None else self.dtype)
        if dt.kind != "f":
            raise TypeError(f"Embedding: dtype must be a float dtype, got {dt}")
        self.weight: Tensor | None = None

    def _init(self, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64):
        w = rng.standard_normal(shape).astype(dtype)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        return w

    def _check(self, ids: Any) -> None:
        if not isinstance(ids, Tensor) or ids.dtype.kind not in "iu":
            what = ids.dtype if isinstance(ids, Tensor) else type(ids).__name__
            raise TypeError(f"Embedding({self.num_embeddings}, {self.embedding_dim}) takes a "
                            f"Tensor of integer ids, got {what}")

    def build(self, ids: Tensor) -> None:
        self._check(ids)
        self.weight = self.param("weight", self._init,
                                 (self.num_embeddings, self.embedding_dim),
                                 np.float64 if self.dtype is None else self.dtype)

    def forward(self, ids: Tensor) -> Tensor:
        self._check(ids)
        rows = take(self.weight, ids, axis=0)
        p = self.padding_idx
        if p is None:
            return rows
        # the padding row's value with no gradient; where sends the rows' gradient to the
        # other positions only, so the padding row's gradient is zero, as in torch
        # the ids that take reads the padding row at: p, and p - N (from the end); an id
        # dtype that cannot hold one of them never reads the row through it
        info = np.iinfo(ids.dtype)
        hits = [equal(ids, v) for v in (p, p - self.num_embeddings) if info.min <= v <= info.max]
        if not hits:
            return rows
        pad = expand_dims(hits[0] if len(hits) == 1 else logical_or(*hits), -1)
        return where(pad, _no_gradient(self.weight[p]), rows)


__all__ = ["Embedding"]
