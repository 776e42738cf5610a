"""Which cluster a diagram draws each node in: the module (or ``g.scope``) that built it."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess

import numpy as np
from viz_rnn import rnn

import graphc as gc

HAS_DOT = shutil.which("dot") is not None


def dot_json(text: str) -> dict:
    """Layout ``text`` with the dot binary (fails the test if dot rejects it)."""
    r = subprocess.run(["dot", "-Tjson"], input=text.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr.decode()
    return json.loads(r.stdout)


def clusters(text: str) -> dict[str, str]:
    """Node id (``n12``) -> the label of the innermost cluster that draws it ("" for none);
    the forward/backward half clusters do not count."""
    where: dict[str, str] = {}
    stack: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("subgraph "):
            stack.append("")
        elif s == "}" and stack:
            stack.pop()
        elif s.startswith("graph [label=") and stack:
            label = re.match(r'graph \[label="([^"]*)"', s).group(1)
            stack[-1] = "" if label.startswith(("forward", "backward")) else label
        elif m := re.match(r"(n\d+) \[", s):
            where[m.group(1)] = next((c for c in reversed(stack) if c), "")
    return where


def ops_in(text: str, g: gc.Graph, cluster: str) -> list[str]:
    """The forward ops drawn directly in ``cluster`` (sorted)."""
    nodes = [g.node(int(n[1:])) for n, c in clusters(text).items() if c == cluster]
    return sorted(n.op for n in nodes if n.role == "op" and "grad_of" not in n.info)


@dataclasses.dataclass(eq=False, repr=False)
class Norm(gc.nn.Module):
    """A LayerNorm-like module: ``(x - mean(x)) * gain``."""

    n: int

    def build(self, x):
        self.gain = self.param("gain", gc.nn.init.glorot_uniform, (1, self.n))

    def forward(self, x):
        return (x - gc.mean(x, axis=-1, keepdims=True)) * self.gain


@dataclasses.dataclass(eq=False, repr=False)
class Conv(gc.nn.Module):
    """A stand-in for a convolution: ``relu(x @ K)`` on (B, 4, 3) -> (B, 4, 5)."""

    def build(self, x):
        self.K = self.param("K", gc.nn.init.glorot_uniform, (3, 5))

    def forward(self, x):
        return gc.relu(x @ self.K)


def test_a_loss_after_a_module_is_drawn_outside_it():
    g = gc.Graph("norm")
    h = Norm(4, name="norm")(gc.nn.Linear(3, 4, name="fc")(g.input("x", ("B", 3))))
    g.output("loss", gc.mean(h ** 2))
    text = gc.to_dot(g)
    assert ops_in(text, g, "norm") == ["mean", "multiply", "subtract"]
    assert ops_in(text, g, "") == ["mean", "power"]      # the loss: no module built it
    gc.grad(g.outputs["loss"], g.trainable)
    text = gc.to_dot(g)
    back = [g.node(int(n[1:])) for n, c in clusters(text).items() if c == "∂ norm"]
    # the gradients of the loss ops mirror them: outside the module too
    assert back and all(g.node(n.info["grad_of"]).op in ("mean", "multiply", "subtract")
                        for n in back if n.role == "op")


def test_pool_and_flatten_after_a_conv_are_not_drawn_in_it():
    g = gc.Graph("cnn")
    h = Conv(name="conv")(g.input("x", ("B", 4, 3)))
    flat = gc.reshape(gc.max(h, axis=1), ("B", 5))
    g.output("logits", gc.nn.Linear(5, 2, name="fc")(flat))
    text = gc.to_dot(g)
    assert ops_in(text, g, "conv") == ["matmul", "relu"]
    assert ops_in(text, g, "") == ["max", "reshape"]
    assert ops_in(text, g, "fc") == ["add", "matmul"]


def test_cross_entropy_is_not_drawn_in_the_last_layer():
    g = gc.Graph("clf")
    logits = gc.nn.Linear(3, 4, name="fc")(g.input("x", ("B", 3)))
    g.output("loss", gc.nn.cross_entropy(logits, g.input("labels", ("B",), np.int64)))
    text = gc.to_dot(g)
    assert ops_in(text, g, "fc") == ["add", "matmul"]
    assert "log_softmax" in ops_in(text, g, "")


def test_an_op_built_in_a_module_between_its_children_stays_in_it():
    g = gc.Graph("mlp")
    g.output("y", gc.nn.MLP([2, 3, 1], name="mlp")(g.input("x", ("B", 2))))
    text = gc.to_dot(g)
    assert ops_in(text, g, "mlp") == ["tanh"]            # MLP.forward applies it
    assert ops_in(text, g, "mlp/0") == ["add", "matmul"]


def test_each_time_step_of_an_unrolled_rnn_is_a_cluster():
    g = rnn(10, grad=True)
    text = gc.to_dot(g)
    where = clusters(text)
    for k in range(10):
        assert text.count(f'label="rnn/t{k}"') == 1 and text.count(f'label="∂ rnn/t{k}"') == 1
        step = sorted(g.node(int(n[1:])).op for n, c in where.items() if c == f"rnn/t{k}")
        assert step == (["add", "getitem", "matmul", "tanh"] if k == 0 else
                        ["add", "add", "getitem", "matmul", "matmul", "tanh"])
    assert ops_in(text, g, "rnn") == []                   # the params only: Wx, Wh, b
    assert ops_in(text, g, "") == ["mean", "power"]       # the loss is no time step's


def test_fold_folds_identical_time_steps():
    """Each step reads its own slice x[:, k]: the index does not make the steps differ."""
    for grad in (False, True):
        g = rnn(10, grad=grad)
        plain, folded = gc.to_dot(g), gc.to_dot(g, fold=True)
        assert "<b>rnn/t1 … t9  ×9</b>" in folded and "×" not in plain
        assert 'label="rnn/t0"' in folded                # the first step has no h @ Wh
        assert len(folded) < len(plain) / 2.5
    assert "<b>∂ rnn/t1 … t8  ×8</b>" in folded
    if HAS_DOT:
        for opts in ({}, {"stack": True}):
            dot_json(gc.to_dot(g, fold=True, **opts))
        area = [float(w) * float(h) for w, h in (
            dot_json(gc.to_dot(rnn(10), fold=f))["bb"].split(",")[2:] for f in (False, True))]
        assert area[1] < area[0] / 10, area


def test_fold_keeps_steps_that_differ_apart():
    g = gc.Graph("two")
    x = g.input("x", ("B", 3))
    W = g.param("W", np.eye(3))
    h = x
    for k, op in enumerate((gc.tanh, gc.tanh, gc.relu)):
        with g.scope(f"t{k}"):
            h = op(h @ W)
    g.output("y", h)
    text = gc.to_dot(g, fold=True)
    assert "<b>t0 … t1  ×2</b>" in text and 'label="t2"' in text
