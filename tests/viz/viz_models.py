"""Models drawn by the viz tests (built here, so node locations are this file's lines)."""

from __future__ import annotations

import os

import numpy as np

import graphc as gc

HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def curve_fit(grad: bool = False) -> gc.Graph:
    """x (B, 1) -> Linear(1, 16) tanh -> Linear(16, 1), MSE loss; with gradients on request."""
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
            W1 = g.param("W", rng.normal(size=(16, 1)))
            b1 = g.param("b", np.zeros(1))
            pred = h @ W1 + b1
    loss = g.output("loss", gc.mean((pred - y) ** 2))
    if grad:
        params = [W0, b0, W1, b1]
        for p, gp in zip(params, gc.grad(loss, params), strict=True):
            g.output(f"d{p.name}", gp)
    return g


def deep(n_blocks: int = 3) -> gc.Graph:
    """An input layer, ``n_blocks`` identical hidden blocks ``blocks/k``, and a head."""
    g = gc.Graph("deep")
    h = g.input("x", ("B", 4))
    with g.name_scope("stem"):
        h = gc.relu(h @ g.param("W", np.ones((4, 8))))
    for k in range(n_blocks):
        with g.name_scope("blocks"), g.name_scope(str(k)):
            h = gc.tanh(h @ g.param("W", np.eye(8)) + g.param("b", np.zeros(8)))
    with g.name_scope("head"):
        out = gc.sum(h @ g.param("W", np.ones((8, 2))), axis=1)
    g.output("out", out)
    return g


#: names that would break DOT (quotes, backslashes, HTML, braces, newlines) if not escaped
NASTY = ['x"]; evil [label="pwn', "back\\slash\\N", "<b>&amp;</b>", "new\nline {}|;"]


def nasty() -> gc.Graph:
    """Inputs, a scope and params whose names try to break out of DOT strings and labels."""
    g = gc.Graph('g"raph\\')
    a = g.input(NASTY[0], ("B", 3))
    with g.name_scope(NASTY[3]):
        w = g.param(NASTY[1], np.ones(3))
    b = g.input(NASTY[2], (3,))
    g.output(NASTY[2] + "!", a * w + b)
    return g


def golden_cases() -> dict[str, tuple]:
    """name -> (target builder, to_dot options) for the DOT golden files."""
    from viz_rnn import rnn

    return {
        "curve_fit_forward": (lambda: curve_fit(), {}),
        "curve_fit_grad": (lambda: curve_fit(grad=True), {}),
        "curve_fit_grad_depth0": (lambda: curve_fit(grad=True), {"depth": 0}),
        "curve_fit_grad_stack": (lambda: curve_fit(grad=True), {"stack": True, "legend": True}),
        "curve_fit_depth1_legend": (lambda: curve_fit(), {"depth": 1, "legend": True}),
        "deep_fold": (lambda: deep(3), {"fold": True}),
        "deep_depth1": (lambda: deep(3), {"depth": 1}),
        "nasty_names": (lambda: nasty(), {}),
        "rnn_grad_fold": (lambda: rnn(10, grad=True), {"fold": True}),
    }


def stable(dot: str) -> str:
    """DOT text with this checkout's absolute path removed from locations."""
    return dot.replace(HERE, "")
