"""Recurrent layers with torch's parameter layout and gate order: ``RNN``, ``GRU``, ``LSTM``.

Params per layer ``k`` (torch's names): ``weight_ih_l{k}`` (gates*H, in), ``weight_hh_l{k}``
(gates*H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (gates*H,), all drawn uniform on
[-1/sqrt(H), 1/sqrt(H)] as torch's; the gates stacked in torch's order (GRU: r, z, n; LSTM:
i, f, g, o), so weights copied from torch give torch's outputs.

Graphs are static: the time loop is unrolled when the graph is built, one step of nodes per
time step, so the sequence length must be a fixed int (the batch size may be symbolic). A
symbolic length is a ShapeError (an op that scans over a symbolic length is future work).
The input projection of a whole sequence is one matmul per layer; each step adds the
hidden projection.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn.dropout import dropout as _dropout
from graphc.nn.module import Module
from graphc.ops import matmul, relu, sigmoid, stack, swapaxes, tanh
from graphc.ops.random import _probability


def _size(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {v!r}")
    if v < 1:
        raise ValueError(f"{what} must be >= 1, got {v}")
    return int(v)


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {v!r}")
    return bool(v)


@dataclasses.dataclass(eq=False, repr=False)
class _Recurrent(Module):
    """The shared machinery: checks, params, the unrolled loop over layers and steps."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = True
    dropout: float = 0.0
    dtype: Any = None
    #: gates stacked in the weights (RNN 1, GRU 3, LSTM 4)
    _gates: ClassVar[int] = 1
    #: whether the state is a (h, c) pair
    _pair: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        self.input_size = _size(self.input_size, f"{name}: input_size")
        self.hidden_size = _size(self.hidden_size, f"{name}: hidden_size")
        self.num_layers = _size(self.num_layers, f"{name}: num_layers")
        self.bias = _flag(self.bias, f"{name}: bias")
        self.batch_first = _flag(self.batch_first, f"{name}: batch_first")
        try:
            self.dropout = _probability(self.dropout)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{name}: dropout {e}") from None
        if self.dtype is not None and np.dtype(self.dtype).kind != "f":
            raise TypeError(f"{name}: dtype must be a float dtype, got {np.dtype(self.dtype)}")
        #: per layer: {"weight_ih": ..., "weight_hh": ..., "bias_ih": ..., "bias_hh": ...}
        self.weights: list[dict[str, Tensor]] = []

    # ------------------------------------------------------------------------ checks
    def _layout(self) -> str:
        return (f"(B, T, {self.input_size})" if self.batch_first
                else f"(T, B, {self.input_size})")

    def _check(self, x: Any, hx: Any) -> tuple[Any, int]:
        """(batch dim, sequence length) of ``x``, after checking ``x`` and ``hx``."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: x must be a graphc Tensor, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: x must have a float dtype, got {x.dtype}")
        if x.ndim != 3 or not definitely_equal(x.shape[2], self.input_size):
            raise ShapeError(at_user(f"{name}({self.input_size}, {self.hidden_size}) expects "
                                     f"inputs {self._layout()}, got {x.shape}"))
        b_axis, t_axis = (0, 1) if self.batch_first else (1, 0)
        T = x.shape[t_axis]
        if not isinstance(T, (int, np.integer)):
            raise ShapeError(at_user(
                f"{name} unrolls its time loop when the graph is built, so the sequence "
                f"length must be a fixed int; the input {x.shape} has the symbolic length "
                f"{T} along axis {t_axis} (declare the input with a fixed length, e.g. one "
                "graph per length; an op that scans over a symbolic length is future work)"))
        if T < 1:
            raise ShapeError(at_user(f"{name}: the sequence is empty (input {x.shape})"))
        B = x.shape[b_axis]
        if hx is not None:
            states = hx if self._pair else (hx,)
            what = "(h0, c0)" if self._pair else "h0"
            if self._pair and (not isinstance(hx, tuple) or len(hx) != 2):
                raise TypeError(f"{name}: the initial state must be a tuple (h0, c0) of "
                                f"Tensors, got {type(hx).__name__}")
            want = (self.num_layers, B, self.hidden_size)
            for s in states:
                if not isinstance(s, Tensor):
                    raise TypeError(f"{name}: the initial state {what} must hold Tensors, "
                                    f"got {type(s).__name__}")
                if s.graph is not x.graph:
                    raise ValueError(f"{name}: the initial state belongs to graph "
                                     f"{s.graph.name!r}, x to {x.graph.name!r}")
                if s.ndim != 3 or not all(definitely_equal(a, b)
                                          for a, b in zip(s.shape, want)):
                    raise ShapeError(at_user(
                        f"{name}: the initial state must be (num_layers, B, hidden_size) = "
                        f"({self.num_layers}, {B}, {self.hidden_size}) for input {x.shape}, "
                        f"got {s.shape}"))
        return B, int(T)

    # ------------------------------------------------------------------------ params
    def build(self, x: Tensor, hx: Any = None) -> None:
        self._check(x, hx)
        H, G = self.hidden_size, self._gates
        dt = np.dtype(self.dtype) if self.dtype is not None else x.dtype
        bound = 1.0 / math.sqrt(H)

        def uniform(rng, shape, dtype=np.float64):
            return rng.uniform(-bound, bound, shape).astype(dtype)

        self.weights = []
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else H
            layer = {"weight_ih": self.param(f"weight_ih_l{k}", uniform, (G * H, n_in), dt),
                     "weight_hh": self.param(f"weight_hh_l{k}", uniform, (G * H, H), dt)}
            if self.bias:
                layer["bias_ih"] = self.param(f"bias_ih_l{k}", uniform, (G * H,), dt)
                layer["bias_hh"] = self.param(f"bias_hh_l{k}", uniform, (G * H,), dt)
            self.weights.append(layer)

    # ----------------------------------------------------------------------- forward
    def forward(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``): output (B, T, H) (``batch_first
        =False``: (T, B, H)) holds the last layer's hidden state at every step, h_n (and c_n)
        (num_layers, B, H) the last step's of every layer."""
        _, T = self._check(x, hx)
        g = x.graph
        t_axis = 1 if self.batch_first else 0
        inputs = x
        last: list[list[Tensor]] = []   # per layer: the final state (h,) or (h, c)
        for k, w in enumerate(self.weights):
            if k > 0 and self.dropout > 0 and self.training:
                inputs = _dropout(inputs, self.dropout, training=True)
            with g.scope(f"l{k}"):
                proj = matmul(inputs, swapaxes(w["weight_ih"], 0, 1))  # (B, T, G*H)
                if self.bias:
                    proj = proj + w["bias_ih"]
                w_hh = swapaxes(w["weight_hh"], 0, 1)                   # (H, G*H)
                if hx is None:
                    state: list[Tensor | None] = [None] * (2 if self._pair else 1)
                else:
                    state = [s[k] for s in (hx if self._pair else (hx,))]
                hs = []
                for t in range(T):
                    with g.scope(f"t{t}"):
                        p_t = proj[:, t] if self.batch_first else proj[t]
                        h = state[0]
                        hh = matmul(h, w_hh) if h is not None else None
                        if self.bias:
                            hh = w["bias_hh"] if hh is None else hh + w["bias_hh"]
                        state = self._cell(p_t, hh, state)
                        hs.append(state[0])
            last.append(state)
            inputs = stack(hs, axis=t_axis)
        finals = [stack([s[i] for s in last], axis=0) for i in range(len(last[0]))]
        return inputs, (tuple(finals) if self._pair else finals[0])

    def _cell(self, p: Tensor, hh: Tensor | None, state: list[Tensor | None]
              ) -> list[Tensor]:
        """One step: the new state from the input projection ``p`` (with ``bias_ih``), the
        hidden projection ``hh`` (with ``bias_hh``; None for a zero state without bias) and
        the state (None entries: zeros)."""
        raise NotImplementedError


def _add(a: Tensor, b: Tensor | None) -> Tensor:
    return a if b is None else a + b


@dataclasses.dataclass(eq=False, repr=False)
class RNN(_Recurrent):
    """Elman RNN, as torch's ``nn.RNN``: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T +
    b_hh)``, ``nonlinearity`` ``"tanh"`` or ``"relu"``. ``rnn(x)`` or ``rnn(x, h0)``
    (h0 (num_layers, B, H); default zeros) returns ``(output, h_n)``: output (B, T, H) with
    ``batch_first=True`` (the default here; torch's is False), h_n (num_layers, B, H).
    ``num_layers`` stacked layers, ``dropout`` on the outputs of all but the last in
    training mode (as torch). The sequence length must be a fixed int (see the module)."""

    nonlinearity: str = "tanh"
    _gates: ClassVar[int] = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonlinearity not in ("tanh", "relu") or not isinstance(self.nonlinearity, str):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{self.nonlinearity!r}")

    def _cell(self, p, hh, state):
        act = tanh if self.nonlinearity == "tanh" else relu
        return [act(_add(p, hh))]


@dataclasses.dataclass(eq=False, repr=False)
class GRU(_Recurrent):
    """Gated recurrent unit, as torch's ``nn.GRU`` (gates r, z, n):
    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z = sigmoid(W_iz x + b_iz + W_hz h +
    b_hz)``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.
    ``gru(x)`` or ``gru(x, h0)`` returns ``(output, h_n)`` as ``RNN`` does."""

    _gates: ClassVar[int] = 3

    def _cell(self, p, hh, state):
        H, h = self.hidden_size, state[0]
        if hh is None:
            r, z = sigmoid(p[..., :H]), sigmoid(p[..., H:2 * H])
            n = tanh(p[..., 2 * H:])
        else:
            r = sigmoid(p[..., :H] + hh[..., :H])
            z = sigmoid(p[..., H:2 * H] + hh[..., H:2 * H])
            n = tanh(p[..., 2 * H:] + r * hh[..., 2 * H:])
        new = (1.0 - z) * n
        return [new if h is None else new + z * h]


@dataclasses.dataclass(eq=False, repr=False)
class LSTM(_Recurrent):
    """Long short-term memory, as torch's ``nn.LSTM`` (gates i, f, g, o):
    ``c' = f * c + i * g``, ``h' = o * tanh(c')`` with i, f, o sigmoids and g a tanh of
    ``W_i* x + b_i* + W_h* h + b_h*``. ``lstm(x)`` or ``lstm(x, (h0, c0))`` returns
    ``(output, (h_n, c_n))``; output (B, T, H) with ``batch_first=True`` (the default here),
    h_n and c_n (num_layers, B, H)."""

    _gates: ClassVar[int] = 4
    _pair: ClassVar[bool] = True

    def _cell(self, p, hh, state):
        H = self.hidden_size
        gates = _add(p, hh)
        i, f = sigmoid(gates[..., :H]), sigmoid(gates[..., H:2 * H])
        cand, o = tanh(gates[..., 2 * H:3 * H]), sigmoid(gates[..., 3 * H:])
        c = state[1]
        c = i * cand if c is None else f * c + i * cand
        return [o * tanh(c), c]


__all__ = ["GRU", "LSTM", "RNN"]
