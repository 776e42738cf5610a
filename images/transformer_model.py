"""A small transformer encoder (4 pre-norm layers, d_model 16, 2 heads, GELU feed-forward),
built with ``gc.nn`` in float32 and exported with ``gc.onnx.save``: the ONNX model that
``python -m graphc.viz.images`` draws folded (``graphc render transformer.onnx --fold``)."""

from __future__ import annotations

import dataclasses

import numpy as np

import graphc as gc
from graphc.nn import Module

D_MODEL, HEADS, LAYERS = 16, 2, 4


@dataclasses.dataclass(eq=False, repr=False)
class EncoderLayer(Module):
    """x + attention(norm(x)), then x + feed-forward(norm(x)), torch's parameter names."""

    d: int = D_MODEL
    heads: int = HEADS

    def __post_init__(self) -> None:
        super().__post_init__()
        f32 = np.float32
        self.norm1 = gc.nn.LayerNorm(self.d, dtype=f32)
        self.self_attn = gc.nn.MultiHeadAttention(self.d, self.heads, dtype=f32)
        self.norm2 = gc.nn.LayerNorm(self.d, dtype=f32)
        self.linear1 = gc.nn.Linear(self.d, 2 * self.d, dtype=f32)
        self.linear2 = gc.nn.Linear(2 * self.d, self.d, dtype=f32)

    def forward(self, x):
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear2(gc.nn.gelu(self.linear1(self.norm2(x))))


@dataclasses.dataclass(eq=False, repr=False)
class Encoder(Module):
    """``n`` encoder layers in a row (scopes ``encoder/layers/0`` ...)."""

    n: int = LAYERS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.layers = [EncoderLayer() for _ in range(self.n)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def build() -> gc.Graph:
    """The encoder on an input (B, T, 16) of any batch size and length."""
    g = gc.Graph("transformer_encoder")
    x = g.input("x", ("B", "T", D_MODEL), np.float32)
    g.output("y", Encoder()(x))
    return g
