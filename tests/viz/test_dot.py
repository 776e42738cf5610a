"""DOT goldens, determinism, escaping, and what a diagram shows.

Regenerate the golden files with ``GRAPHC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/viz``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from viz_models import NASTY, curve_fit, deep, golden_cases, nasty, stable

import graphc as gc

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("GRAPHC_REGEN_GOLDEN") == "1"
HAS_DOT = shutil.which("dot") is not None
CASES = golden_cases()


def dot_json(text: str) -> dict:
    """Layout ``text`` with the dot binary (fails the test if dot rejects it)."""
    r = subprocess.run(["dot", "-Tjson"], input=text.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Warning" not in r.stderr and b"Error" not in r.stderr, r.stderr.decode()
    return json.loads(r.stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    build, opts = CASES[case]
    text = stable(gc.to_dot(build(), **opts))
    path = GOLDEN / f"{case}.dot"
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path.name}: run GRAPHC_REGEN_GOLDEN=1 pytest tests/viz"
    assert text == path.read_text(encoding="utf-8"), (
        f"{case}: DOT changed; if intended, GRAPHC_REGEN_GOLDEN=1 pytest tests/viz")


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_binary_accepts(case):
    build, opts = CASES[case]
    dot_json(gc.to_dot(build(), **opts))


def test_byte_identical_for_the_same_graph():
    g = curve_fit(grad=True)
    assert gc.to_dot(g) == gc.to_dot(g)
    assert stable(gc.to_dot(curve_fit(grad=True))) == stable(gc.to_dot(g))


def test_every_edge_is_labelled_with_a_symbolic_shape():
    text = gc.to_dot(curve_fit(grad=True))
    edges = [ln for ln in text.splitlines() if "->" in ln and "style=\"invis\"" not in ln]
    assert edges and all("label=" in ln for ln in edges)
    assert 'label="(B, 16)"' in text and 'label="(16,)"' in text and 'label="(1, 16)"' in text


def test_roles_and_kinds_told_apart():
    text = gc.to_dot(curve_fit())
    node = {m.group(1): m.group(2) for m in re.finditer(r"^\s*(n\d+) \[(.*)\];$", text, re.M)}
    assert 'shape="invhouse"' in node["n0"]                  # input x
    assert 'shape="cylinder"' in node["n2"]                  # param mlp/0/W
    assert 'shape="box"' in node["n4"] and "#f8c471" in node["n4"]   # matmul
    assert "#d6eaf8" in node["n5"]                           # add: elementwise
    assert "#fadbd8" in node["n14"]                          # mean: reduction
    assert 'shape="ellipse"' in text                         # the constant 2
    assert 'shape="house"' in text                           # the output marker


def test_module_clusters_from_scoped_names():
    text = gc.to_dot(curve_fit())
    assert 'label="mlp/0"' in text and 'label="mlp/1"' in text and 'label="mlp"' in text
    # the params of mlp/0 and the ops that use them are inside its cluster
    block = text.split('label="mlp/0"')[1].split("}")[0]
    for nid in ("n2 ", "n3 ", "n4 ", "n5 "):
        assert nid in block


def test_depth_collapses_modules():
    text = gc.to_dot(curve_fit(), depth=0)
    assert "fbox0" in text and "<b>mlp</b>" in text
    assert "\n    n4 " not in text and not re.search(r"^\s*n4 \[", text, re.M)
    assert "2 ops: add×2, matmul×2" not in text  # tanh is in mlp too
    assert "5 ops: add×2, matmul×2, tanh" in text
    one = gc.to_dot(curve_fit(), depth=1)
    assert "<b>mlp/0</b>" in one and "<b>mlp/1</b>" in one and 'label="mlp"' in one


def test_fold_repeated_blocks():
    plain = gc.to_dot(deep(3))
    folded = gc.to_dot(deep(3), fold=True)
    assert "×3" in folded and "×3" not in plain
    assert "blocks/0 … 2" in folded
    assert 'label="stem"' in folded and 'label="head"' in folded   # different blocks stay
    # the fold box replaces the nine block nodes and keeps the edges in and out
    assert len(re.findall(r"-> fbox\d", folded)) >= 1 and re.search(r"fbox\d -> ", folded)


def test_backward_is_a_mirrored_half_with_inserted_nodes_marked():
    fwd = gc.to_dot(curve_fit())
    assert "cluster_backward" not in fwd and "dir=\"back\"" not in fwd
    text = gc.to_dot(curve_fit(grad=True))
    assert "subgraph cluster_forward" in text and "subgraph cluster_backward" in text
    assert 'dir="back"' in text                       # gradients laid out bottom-up
    assert 'label="∂ mlp/0"' in text                 # backward modules mirror the forward ones
    marked = [ln for ln in text.splitlines() if "#c0392b" in ln and "penwidth" in ln]
    ops = {re.search(r"<b>(\w+)</b>", ln).group(1) for ln in marked}
    assert ops == {"sum"} and len(marked) == 2       # the two bias gradients: sums over B
    for ln in marked:
        assert "sum over B" in ln and "unbroadcast ∂add[1]" in ln
        assert "viz_models.py:" in ln                 # the user's forward line
        assert "tooltip=\"inserted by gc.grad" in ln


def test_reshape_inserted_by_grad_is_marked():
    g = gc.Graph("keep1")
    x = g.input("x", ("B", 3))
    b = g.param("b", np.zeros((1, 3)))
    loss = gc.sum(x + b)
    (gb,) = gc.grad(loss, [b])
    text = gc.to_dot(gb)
    assert "unbroadcast" in text and "sum over B" in text


def test_nasty_names_are_escaped():
    text = gc.to_dot(nasty())
    assert 'x"]; evil' not in text and "new\nline" not in text
    assert "<b>&lt;b&gt;&amp;amp;&lt;/b&gt;</b>" in text        # HTML label: escaped
    assert 'tooltip="new\\nline {}|;/back\\\\slash\\\\N' in text  # quoted: escString
    if HAS_DOT:
        layout = dot_json(text)
        names = sorted(o["name"] for o in layout.get("objects", []) if "nodes" not in o)
        assert all(re.fullmatch(r"n\d+(_\d+)?|out\d+", n) for n in names), names
        assert not any("evil" in json.dumps(e) and "pwn" not in json.dumps(e)
                       for e in layout.get("edges", []))


def test_targets_tensor_list_and_function():
    g = curve_fit(grad=True)
    loss = g.outputs["loss"]
    only_loss = gc.to_dot(loss)
    assert "cluster_backward" not in only_loss and "<b>loss</b>" in only_loss
    both = gc.to_dot([loss, g.outputs["dmlp/0/b"]])
    assert "cluster_backward" in both
    gW = g.outputs["dmlp/1/W"]
    W = g["mlp/1/W"]
    f = gc.compile(loss, updates={W: W - 0.1 * gW})
    text = gc.to_dot(f)
    assert "update mlp/1/W" in text and "<b>loss</b>" in text
    sched = set(f.program.schedule)
    drawn = {int(m) for m in re.findall(r"^\s*n(\d+) \[", text, re.M)}
    assert drawn <= sched


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a gc.Graph"):
        gc.to_dot(42)
    with pytest.raises(TypeError):
        gc.to_dot([])
    with pytest.raises(ValueError, match="depth"):
        gc.to_dot(curve_fit(), depth=-1)
    assert NASTY  # the nasty names are exercised above


def test_fold_mirrors_into_the_backward_half():
    g = deep(3)
    params = g.trainable
    for p, gp in zip(params, gc.grad(g.outputs["out"].sum(), params), strict=True):
        g.output("d" + p.name, gp)
    text = gc.to_dot(g, fold=True)
    assert "<b>blocks/0 … 2  ×3</b>" in text and "<b>∂ blocks/0 … 2  ×3</b>" in text
    if HAS_DOT:
        dot_json(text)


@pytest.mark.parametrize("opts", [{"depth": 0}, {"depth": 1}, {"fold": True}])
def test_boxes_draw_each_hidden_connection_once(opts):
    """Edges a collapsed or folded box hides collapse into one per (source, target, shape)."""
    g = deep(4)
    gc.grad(g.outputs["out"].sum(), g.trainable)
    edges = [ln.strip() for ln in gc.to_dot(g, **opts).splitlines() if "->" in ln]
    assert len(edges) == len(set(edges))
    assert any("box" in ln.split("->")[0] for ln in edges)


def test_fold_absorbs_the_ops_between_folded_blocks():
    g = gc.Graph("mlp")
    net = gc.nn.MLP([4] + [4] * 6 + [1])
    g.output("out", net(g.input("x", ("B", 4))).sum())
    text = gc.to_dot(g, fold=True)
    assert "×5" in text or "×6" in text
    assert text.count("<b>tanh</b>") <= 2
    # and their gradients: the backward half folds as tightly as the forward one
    gc.grad(g.outputs["out"], g.trainable)
    text = gc.to_dot(g, fold=True)
    assert "<b>∂ mlp/1 … 5  ×5</b>" in text
    assert text.count("<b>square</b>") <= 2 and text.count("<b>tanh</b>") <= 2


def test_fold_leaves_the_ops_before_and_after_the_run_outside():
    """Only parent-scope ops between two blocks of the run join its box; an op that feeds the
    first block or reads the last one stays a node of its own."""
    g = gc.Graph("net")
    x = g.input("x", ("B", 3))
    with g.annotate(scope="net"):
        h = gc.exp(x)                                     # feeds the first block
    for k in range(3):
        with g.name_scope("net"), g.name_scope(str(k)), g.annotate(scope=f"net/{k}"):
            h = h @ g.param("W", np.eye(3))
        if k < 2:
            with g.annotate(scope="net"):
                h = gc.tanh(h)                            # between blocks
    with g.annotate(scope="net"):
        g.output("out", gc.sqrt(h * h))                   # reads the last block
    text = gc.to_dot(g, fold=True)
    assert "<b>net/0 … 2  ×3</b>" in text and "tanh×2" in text
    for op in ("exp", "multiply", "sqrt"):
        assert f"<b>{op}</b>" in text
    assert "<b>tanh</b>" not in text


def _layout(text: str) -> dict[str, tuple[float, float]]:
    """Node name -> (x, y) centre from dot -Tjson (y grows upwards)."""
    layout = dot_json(text)
    return {o["name"]: tuple(map(float, o["pos"].split(",")))
            for o in layout.get("objects", []) if "pos" in o and "nodes" not in o}


def test_stack_puts_the_backward_half_below_in_a_narrower_picture():
    g = curve_fit(grad=True)
    text = gc.to_dot(g, stack=True, legend=True)
    assert "subgraph cluster_backward" in text and "gradients flow down" in text
    assert 'dir="back"' not in text and 'style="dashed"' not in text  # no edge across halves
    # a forward value the backward half reads is drawn again there: x, tanh %6, mlp/1/W
    refs = re.findall(r"^\s*(r\d+_\d+) \[label=\"([^\"]+)\"", text, re.M)
    assert {label for _, label in refs} >= {"x", "tanh %6", "mlp/1/W"}
    edges = [ln for ln in text.splitlines() if "->" in ln and 'style="invis"' not in ln]
    assert edges and all("label=" in ln for ln in edges)
    # the unbroadcast provenance, on two lines: forward op and operand; symbol, axes, file:line
    assert "unbroadcast ∂add[1]</font><br/><font point-size=\"9\" color=\"#c0392b\">sum over B @ " \
           "viz_models.py:" in text
    assert stable(gc.to_dot(curve_fit(grad=True), stack=True, legend=True)) == stable(text)
    if HAS_DOT:
        pos = _layout(text)
        fwd = [pos[f"n{i}"][1] for i in range(15) if f"n{i}" in pos]
        bwd = [y for k, (_, y) in pos.items() if re.fullmatch(r"n(1[5-9]|[2-9]\d)(_\d+)?", k)]
        assert fwd and bwd and max(bwd) < min(fwd)
        assert pos["legend"][1] < min(bwd)
        width = float(dot_json(text)["bb"].split(",")[2])
        side = float(dot_json(gc.to_dot(g, legend=True))["bb"].split(",")[2])
        assert width < 0.6 * side, (width, side)


def test_optimizer_updates_get_their_own_cluster():
    g = gc.Graph("mlp")
    net = gc.nn.MLP([2, 3, 1])
    x, y = g.input("x", ("B", 2)), g.input("y", ("B", 1))
    loss = gc.nn.mse_loss(net(x), y)
    opt = gc.optim.Adam(1e-2)
    f = gc.compile(loss, updates=opt.updates(loss))
    text = gc.to_dot(f)
    assert 'label="update (adam)"' in text and "∂ update" not in text
    block = text.split('label="update (adam)"')[1]
    ids = {int(i) for i in re.findall(r"^\s*n(\d+) \[", block, re.M)}
    sched = set(f.program.schedule)
    tagged = {i for i in sched if "optimizer" in f.program.graph.node(i).info
              and f.program.graph.node(i).role != "constant"}
    assert tagged and ids == tagged          # every update op and state, and only those
    assert "<b>m/mlp/0/W</b>" in block and "<b>v/mlp/1/b</b>" in block and "<b>t</b>" in block
    assert "update mlp/0/W" in block          # the update markers sit beside their values
    if HAS_DOT:
        dot_json(text)
        dot_json(gc.to_dot(f, stack=True, fold=True, legend=True))


def test_an_index_is_drawn_as_numpy_writes_it():
    g = gc.Graph("idx")
    x = g.input("x", ("B", 4, 3))
    g.output("o", x[:, -1, None, 1:3] + x[0, ::2, :1][None])
    text = gc.to_dot(g)
    assert "index=[:, -1, None, 1:3]" in text and "index=[0, ::2, :1]" in text
    assert "'slice'" not in text


def test_gradient_outputs_are_labelled_by_what_they_differentiate():
    g = gc.Graph("mlp")
    net = gc.nn.MLP([1, 3, 1], name="mlp")
    x, y = g.input("x", ("B", 1)), g.input("y", ("B", 1))
    loss = g.output("loss", gc.nn.mse_loss(net(x), y))
    params = g.trainable
    grads = gc.grad(loss, params)
    for target in ([loss, *grads], gc.compile([loss, *grads])):
        text = gc.to_dot(target)
        for p in params:
            assert f"<b>∂loss/∂{p.name}</b>" in text
        assert "out[" not in text
    # y unnamed: "y"; x an input, not a param; a value that is no gradient keeps out[k]
    h = gc.tanh(x)
    (gx,) = gc.grad(gc.sum(h), [x])
    text = gc.to_dot([gc.sum(h), gx, h])
    assert "<b>∂y/∂x</b>" in text and "<b>out[0]</b>" in text and "<b>out[2]</b>" in text
    # one node that is the gradient of two xs
    a, b = g.param("a", np.ones(2)), g.param("b", np.ones(2))
    ga, gb = gc.grad(gc.sum(a + b), [a, b])
    if ga is gb:
        assert "<b>∂y/∂a, ∂y/∂b</b>" in gc.to_dot([ga, gb])
