"""An unrolled RNN drawn by the viz tests: each time step in ``g.scope``, one shared cell."""

from __future__ import annotations

import dataclasses

import graphc as gc


@dataclasses.dataclass(eq=False, repr=False)
class RNN(gc.nn.Module):
    """A tanh RNN unrolled over ``steps``: one shared-weight cell, each step in ``g.scope``."""

    n_in: int
    n_hidden: int
    steps: int

    def build(self, x):
        self.Wx = self.param("Wx", gc.nn.init.glorot_uniform, (self.n_in, self.n_hidden))
        self.Wh = self.param("Wh", gc.nn.init.glorot_uniform, (self.n_hidden, self.n_hidden))
        self.b = self.param("b", gc.nn.init.zeros, (self.n_hidden,))

    def forward(self, x):
        h = None
        for k in range(self.steps):
            with x.graph.scope(f"t{k}"):
                z = x[:, k] @ self.Wx + self.b
                h = gc.tanh(z if h is None else z + h @ self.Wh)
        return h


def rnn(steps: int = 10, grad: bool = False) -> gc.Graph:
    """x (B, steps, 3) -> RNN(3, 4) -> mean(h**2), with the gradients on request."""
    g = gc.Graph("rnn")
    h = RNN(3, 4, steps, name="rnn")(g.input("x", ("B", steps, 3)))
    loss = g.output("loss", gc.mean(h ** 2))
    if grad:
        for p, gp in zip(g.trainable, gc.grad(loss, g.trainable), strict=True):
            g.output(f"d{p.name}", gp)
    return g
