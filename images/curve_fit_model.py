"""The curve-fit model drawn in README.md: x (B, 1) -> Linear(1, 16) -> tanh -> Linear(16, 1),
MSE loss. Built with plain graphc ops and name scopes; `bash dev.sh images` runs this file,
saves the model with gc.save and draws it with the graphc CLI from the saved file."""

import numpy as np

import graphc as gc


def build() -> gc.Graph:
    """The curve-fit MLP with the output ``loss``."""
    rng = np.random.default_rng(0)
    g = gc.Graph("curve_fit")
    x = g.input("x", ("B", 1))
    y = g.input("y", ("B", 1))
    with g.name_scope("mlp"):
        with g.name_scope("0"):
            W0 = g.param("W", rng.normal(size=(1, 16)))
            b0 = g.param("b", np.zeros(16))
            h = gc.tanh(x @ W0 + b0)
        with g.name_scope("1"):
            W1 = g.param("W", rng.normal(size=(16, 1)) / 4)
            b1 = g.param("b", np.zeros(1))
            pred = h @ W1 + b1
    loss = gc.mean((pred - y) ** 2)
    g.output("loss", loss)
    return g
