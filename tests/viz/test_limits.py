"""What keeps drawing a big or hostile model bounded: the automatic depth past ``max_nodes``,
the timeout on the dot binary, the bound on scope depth, and names past graphviz's 16k limit.

The 200-module chain below, with its gradients, keeps dot busy for minutes when every module
is drawn as a cluster; these tests draw it in about a second.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.viz.dot import LABEL_CHARS, MAX_STRING
from graphc.viz.rendering import MAX_NODES, DiagramSizeWarning, RenderTimeoutError
from graphc.viz.view import MAX_SCOPE_DEPTH

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
#: a statement that draws a node (nodes, boxes, markers, drawn-again values)
NODE = re.compile(r"^\s+(n\d|fbox|bbox|r\d|out|upd)\w* \[", re.M)


def chain(n: int = 200, grad: bool = False) -> gc.Graph:
    """``n`` one-param modules applied in sequence, each its own top-level module scope."""
    g = gc.Graph("chain")
    h = g.input("x", ("B", 1))
    for _ in range(n):
        h = gc.nn.Linear(1, 1, bias=False)(h)
    loss = g.output("loss", gc.mean(h ** 2))
    if grad:
        params = list(g.trainable)
        for p, gp in zip(params, gc.grad(loss, params), strict=True):
            g.output(f"d{p.name}", gp)
    return g


def drawn(text: str) -> int:
    """The nodes and clusters a DOT text draws."""
    return len(NODE.findall(text)) + text.count("subgraph cluster_")


def deep_names() -> gc.Graph:
    """A param 1500 scopes deep, and ops under a ``g.scope`` 1500 levels deep."""
    g = gc.Graph("deep")
    x = g.input("x", ("B", 1))
    W = g.param("a/" * 1500 + "W", np.ones((1, 1)))
    with g.scope("/".join(["s"] * 1500)):
        y = gc.tanh(x @ W)
    g.output("y", y)
    return g


# ======================================================================== automatic depth
@needs_dot
def test_a_chain_of_200_modules_renders_collapsed_with_a_warning(tmp_path):
    g = chain(200)
    assert drawn(gc.to_dot(g)) > MAX_NODES
    t = time.perf_counter()
    with pytest.warns(DiagramSizeWarning, match=r"drawn with depth=0") as rec:
        gc.render(g, tmp_path / "chain.svg")
    assert time.perf_counter() - t < 20
    (w,) = [r.message for r in rec if isinstance(r.message, DiagramSizeWarning)]
    assert isinstance(w, UserWarning) and w.depth == 0 and w.max_nodes == MAX_NODES
    assert w.size == drawn(gc.to_dot(g)) and w.drawn == drawn(gc.to_dot(g, depth=0))
    assert w.drawn < MAX_NODES
    assert b"linear_199" in (tmp_path / "chain.svg").read_bytes()


def test_the_automatic_depth_is_the_deepest_that_fits():
    from graphc.viz.dot import fit_dot

    g = gc.Graph("nested")
    h = g.input("x", ("B", 1))
    for k in range(30):
        with g.name_scope(f"m{k}"), g.name_scope("inner"), g.name_scope("core"):
            h = gc.tanh(h @ g.param("W", np.ones((1, 1))))
    g.output("y", h)
    sizes = [drawn(gc.to_dot(g, depth=d)) for d in range(4)]
    assert sizes[0] < sizes[1] < sizes[2] < sizes[3] == drawn(gc.to_dot(g))
    for budget, depth in [(sizes[3], None), (sizes[3] - 1, 2), (sizes[2] - 1, 1),
                          (sizes[1], 1), (sizes[0], 0), (5, 0)]:
        f = fit_dot(g, budget)
        assert f.depth == depth and f.size == sizes[3], budget
        assert f.drawn == drawn(f.text) == (sizes[3] if depth is None else sizes[depth])
        assert f.text == gc.to_dot(g, depth=depth)
    # a depth of the caller's, or no budget, is drawn as asked
    assert fit_dot(g, 5, depth=3).depth is None and fit_dot(g, None).depth is None


@needs_dot
def test_an_explicit_depth_or_no_budget_is_drawn_as_asked(tmp_path):
    g = chain(40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.render(g, tmp_path / "a.svg", depth=1)
        gc.render(g, tmp_path / "b.svg", max_nodes=None)
    assert b"linear_39" in (tmp_path / "b.svg").read_bytes()


def test_a_flat_graph_over_the_budget_says_nothing_can_collapse(tmp_path, monkeypatch):
    g = gc.Graph("flat")
    h = g.input("x", ("B", 1))
    for _ in range(10):
        h = gc.tanh(h)
    g.output("y", h)
    fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo '<svg/>'")
    with pytest.warns(DiagramSizeWarning, match="no module scopes to collapse") as rec:
        gc.render(g, tmp_path / "flat.svg", max_nodes=5)
    assert rec[0].message.depth is None
    assert (tmp_path / "flat.svg").read_bytes() == b"<svg/>\n"


@pytest.mark.parametrize("kw", [{"max_nodes": -1}, {"max_nodes": 2.5}, {"max_nodes": True},
                                {"timeout": 0}, {"timeout": -1}, {"timeout": "60"}])
def test_bad_budgets(tmp_path, kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        gc.render(chain(2), tmp_path / "m.svg", **kw)
    with pytest.raises(ValueError, match=next(iter(kw))):
        gc.viz.to_svg(chain(2), **kw)


# ================================================================================ timeout
def fake_dot(tmp_path, monkeypatch, script: str) -> None:
    """A ``dot`` on PATH that runs ``script`` (sh) instead of laying anything out."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    dot = bin_dir / "dot"
    dot.write_text(f"#!/bin/sh\n{script}\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_a_dot_that_runs_too_long_is_stopped(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, "exec sleep 30")
    t = time.perf_counter()
    with pytest.raises(RenderTimeoutError, match=r"did not finish within 0\.5 s") as e:
        gc.render(chain(3), tmp_path / "m.svg", timeout=0.5)
    assert time.perf_counter() - t < 10
    assert isinstance(e.value, RuntimeError)
    assert "--depth" in str(e.value) and "--fold" in str(e.value)
    assert not (tmp_path / "m.svg").exists()
    with pytest.raises(RenderTimeoutError):
        gc.viz.to_svg(chain(3), timeout=0.5)


# ==================================================================== bounded scope depth
def test_a_name_1500_scopes_deep_draws():
    from graphc.viz.view import make_view, scope_of_name

    s = scope_of_name("a/" * 1500 + "W")
    assert len(s) == MAX_SCOPE_DEPTH and "/".join(s) == "/".join(["a"] * 1500)
    g = deep_names()
    v = make_view(g)
    assert max(len(s) for s in v.scope.values() if s) == MAX_SCOPE_DEPTH
    text = gc.to_dot(g)
    assert text.count("subgraph cluster_") == 2 * MAX_SCOPE_DEPTH
    assert gc.to_dot(g, depth=3).count("subgraph cluster_") == 2 * 3
    assert gc.to_dot(g, fold=True, depth=70)
    d = gc.to_networkx(g)
    assert d.nodes[g.param_tensors["a/" * 1500 + "W"].id]["scope"] == "/".join(["a"] * 1500)


@needs_dot
def test_a_name_1500_scopes_deep_renders(tmp_path):
    with pytest.warns(DiagramSizeWarning):
        gc.render(deep_names(), tmp_path / "deep.svg", max_nodes=100)
    gc.render(deep_names(), tmp_path / "deep.svg", max_nodes=None)
    assert b"<svg" in (tmp_path / "deep.svg").read_bytes()[:400]


def test_a_long_chain_of_gradient_provenance_does_not_recurse():
    """A Tensor target whose gradient nodes' forward nodes lie outside it, chained far deeper
    than Python's recursion limit."""
    from graphc.viz.view import make_view

    g = gc.Graph("chain")
    x = g.input("x", ("B", 1))
    with g.scope("m"):
        y = gc.tanh(x)
    prev = y
    for _ in range(sys.getrecursionlimit() + 100):
        with g.annotate(grad_of=prev.id):
            prev = gc.negative(x)
    v = make_view(prev)
    assert v.scope[prev.id] == ("m",)


# =========================================================================== long names
def strings(text: str) -> list[str]:
    """The quoted and HTML-like strings of a DOT text (a rough scan: enough for its lengths)."""
    return re.findall(r'"(?:[^"\\]|\\.)*"', text) + re.findall(r"<<.*?>>", text)


def long_names(n: int = 20_000) -> gc.Graph:
    g = gc.Graph("g" * n)
    x = g.input("x" * n, ("B", 1))
    W = g.param("w" * n, np.ones((1, 1)))
    g.output('"&<y>' * (n // 5), x @ W)
    return g


def test_names_past_graphvizs_limit_are_cut_with_an_ellipsis():
    text = gc.to_dot(long_names())
    assert max(len(s.encode()) for s in strings(text)) <= MAX_STRING < 16384
    # a label shows LABEL_CHARS characters at most (dot fails on a much wider node) ...
    assert f">{'x' * (LABEL_CHARS - 1)}…<" in text and f">{'w' * (LABEL_CHARS - 1)}…<" in text
    assert "&quot;&amp;&lt;y&gt;" * 100 in text and "x" * LABEL_CHARS not in text
    assert f'label="{"g" * (LABEL_CHARS - 1)}…"' in text
    # ... a tooltip up to graphviz's limit
    assert f'tooltip="{"w" * (MAX_STRING - 10)}' in text and "w" * 16384 not in text
    # the cut falls between escapes, never inside one
    assert not re.search(r"&[a-z#0-9]*…", text) and not re.search(r"(?<!\\)\\…", text)


@needs_dot
def test_a_20k_character_name_renders(tmp_path):
    gc.render(long_names(), tmp_path / "long.svg")
    data = (tmp_path / "long.svg").read_text(encoding="utf-8")
    assert "x" * (LABEL_CHARS - 1) + "…" in data
