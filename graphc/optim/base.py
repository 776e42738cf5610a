"""``Optimizer``: builds update graphs; its state (lr, moments, step) is non-trainable params."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphc.autodiff import grad
from graphc.errors import ShapeError
from graphc.ir.dims import same_shape
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.optim.clip import clip_grad_norm


class Optimizer:
    """Base of the optimisers: ``updates(loss, params) -> {param: new value}``.

    The first ``updates`` call binds the optimiser to the loss's graph and creates its state
    there as non-trainable params under its scope (``adam/lr``, ``adam/m/mlp/0/W``). The
    learning rate is such a param, so ``opt.lr = 1e-3`` takes effect on the next call of an
    already compiled step.

    ``clip_norm``: when given, the gradients are first scaled together so that their total
    (L2) norm is at most ``clip_norm``, as ``torch.nn.utils.clip_grad_norm_`` (see
    ``gc.optim.clip_grad_norm``); weight decay is added after the clipping, as in torch.
    """

    default_name = "optimizer"

    def __init__(self, lr: float, name: str | None = None, clip_norm: float | None = None):
        self._lr0 = _positive(lr, "lr")
        self.clip_norm = None if clip_norm is None else _positive(clip_norm, "clip_norm")
        self.name = name
        self.graph: Graph | None = None
        self._scope = ""
        self._lr: Tensor | None = None
        self._state: dict[tuple[str, int], Tensor] = {}

    # ------------------------------------------------------------------------------ lr
    @property
    def lr(self) -> float:
        """The learning rate (the value the next step uses)."""
        if self.graph is None or self._lr is None:
            return self._lr0
        return float(self.graph.params[self._lr.name])

    @lr.setter
    def lr(self, value: float) -> None:
        self.set_lr(value)

    def set_lr(self, value: float) -> None:
        """Change the learning rate in place: compiled steps see it without recompiling."""
        self._lr0 = _positive(value, "lr")
        if self.graph is not None and self._lr is not None:
            self.graph.params[self._lr.name][...] = self._lr0

    @property
    def lr_tensor(self) -> Tensor:
        """The learning rate as a graph param (after the first ``updates`` call)."""
        if self._lr is None:
            raise RuntimeError("the optimiser has no graph yet: call updates(loss) first")
        return self._lr

    # ------------------------------------------------------------------------- updates
    def updates(self, loss: Tensor, params: Sequence[Tensor] | None = None,
                grads: Sequence[Tensor] | None = None) -> dict[Tensor, Tensor]:
        """New values for ``params`` (default: the graph's trainable params) and the state.

        ``grads`` may be given when they were already built with ``gc.grad(loss, params)``
        (they are clipped too when the optimiser has a ``clip_norm``). Pass the dict to
        ``gc.compile(..., updates=...)``: one call is then one step.
        """
        if not isinstance(loss, Tensor):
            raise TypeError(f"updates takes the loss Tensor, got {type(loss).__name__}")
        g = loss.graph
        if self.graph is not None and self.graph is not g:
            raise ValueError(f"this optimiser is bound to graph {self.graph.name!r}; make a new "
                             f"one for graph {g.name!r}")
        params = self.check_params(g, params)
        if grads is None:
            grads = grad(loss, params)
        elif len(grads) != len(params):
            raise ValueError(f"got {len(grads)} grads for {len(params)} params")
        grads = list(grads)
        for k, (p, gr) in enumerate(zip(params, grads, strict=True)):
            g.own(gr, f"grads[{k}]")
            if not same_shape(gr.shape, p.shape):
                raise ShapeError(f"grads[{k}] has shape {gr.shape}, its param {p.name!r} "
                                 f"{p.shape}")
            if gr.dtype != p.dtype:
                raise TypeError(f"grads[{k}] is {gr.dtype}, its param {p.name!r} {p.dtype}")
        self._bind(g)  # only once the arguments are known to be good
        # the ``optimizer`` meta draws the update ops and the state in one diagram cluster
        with g.name_scope(self._scope), g.annotate(optimizer=self.name):
            if self.clip_norm is not None:
                grads = clip_grad_norm(grads, self.clip_norm)[0]
            new = self._rules(params, grads)
        return new

    @staticmethod
    def check_params(g: Graph, params: Sequence[Tensor] | None) -> list[Tensor]:
        """``params`` (default: ``g``'s trainable params) checked: trainable params of ``g``."""
        if isinstance(params, Tensor):
            raise TypeError("params must be a list of param Tensors, got one Tensor")
        params = list(g.trainable if params is None else params)
        if not params:
            raise ValueError(f"graph {g.name!r} has no trainable params to update")
        for k, p in enumerate(params):
            g.own(p, f"params[{k}]")
            if p.node.role != "param":
                raise TypeError(f"params[{k}] ({p!r}) is not a param")
            if not p.node.attr["trainable"]:
                raise ValueError(f"params[{k}] ({p.name!r}) is not trainable")
        if len({p.id for p in params}) != len(params):
            raise ValueError(f"params lists a param twice: {[p.name for p in params]}")
        return params

    def config(self) -> tuple:
        """The fixed hyperparameters that the update graph bakes in (all but the lr)."""
        return (self.clip_norm,)

    def _rules(self, params: list[Tensor], grads: list[Tensor]) -> dict[Tensor, Tensor]:
        raise NotImplementedError

    # --------------------------------------------------------------------------- state
    def _bind(self, g: Graph) -> None:
        if self.graph is g:
            return
        base = self.name or self.default_name
        name, k = base, 0
        while any(n.startswith(name + "/") for n in g.params):
            k += 1
            name = f"{base}_{k}"
        self.name, self._scope, self.graph = name, name, g
        with g.name_scope(name), g.annotate(optimizer=name):
            self._lr = g.param("lr", np.float64(self._lr0), trainable=False)

    def state(self, kind: str, p: Tensor) -> Tensor:
        """The state ``kind`` (e.g. "m") of param ``p``: zeros like it, created once."""
        key = (kind, p.id)
        if key not in self._state:
            g = p.graph
            self._state[key] = g.param(f"{kind}/{p.name}", np.zeros(g.params[p.name].shape,
                                       dtype=p.dtype), trainable=False)
        return self._state[key]

    def scalar_state(self, name: str, value: float) -> Tensor:
        """A float64 scalar state param (e.g. Adam's step count), created once."""
        key = (name, -1)
        if key not in self._state:
            assert self.graph is not None
            self._state[key] = self.graph.param(name, np.float64(value), trainable=False)
        return self._state[key]

    def state_params(self) -> list[Tensor]:
        """All state params (lr first)."""
        return ([self._lr] if self._lr is not None else []) + list(self._state.values())

    def _lr_for(self, p: Tensor) -> Tensor:
        lr = self.lr_tensor
        return lr if lr.dtype == p.dtype else lr.astype(p.dtype)

    @staticmethod
    def _l2(p: Tensor, g: Tensor, weight_decay: float) -> Tensor:
        """``g + weight_decay * p``: L2 weight decay added to the gradient, as torch does."""
        return g if weight_decay == 0 else g + weight_decay * p

    def __repr__(self) -> str:
        return f"<gc.optim.{type(self).__name__} lr={self.lr:g}>"


def _positive(v: float, what: str) -> float:
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {v}")
    return v


def _fraction(v: float, what: str) -> float:
    """A number in [0, 1) (a decay rate, a momentum)."""
    v = _positive(v, what)
    if v >= 1:
        raise ValueError(f"{what} must be in [0, 1), got {v}")
    return v


__all__ = ["Optimizer"]
