"""render (svg/png/pdf magic bytes, the missing-binary error) and to_networkx attributes."""

from __future__ import annotations

import shutil

import networkx as nx
import numpy as np
import pytest
from viz_models import curve_fit

import graphc as gc
from graphc.viz import GraphvizNotFoundError

HAS_DOT = shutil.which("dot") is not None
MAGIC = {"svg": b"<svg", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_render_formats(tmp_path, fmt):
    path = tmp_path / f"model.{fmt}"
    out = gc.render(curve_fit(grad=True), path, depth=1)
    data = path.read_bytes()
    assert out == path
    if fmt == "svg":
        assert data.startswith(b"<?xml") and MAGIC["svg"] in data[:400]
        assert b"unbroadcast" in data  # the provenance reaches the svg (label and tooltip)
    else:
        assert data.startswith(MAGIC[fmt]) and len(data) > 1000


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_render_png_dpi(tmp_path):
    import struct

    def size(path):
        """(width, height) from the PNG's IHDR chunk."""
        return struct.unpack(">II", path.read_bytes()[16:24])

    g = curve_fit()
    plain = size(gc.render(g, tmp_path / "a.png"))
    sharp = size(gc.render(g, tmp_path / "b.png", dpi=192))
    assert abs(sharp[0] / plain[0] - 2) < 0.02 and abs(sharp[1] / plain[1] - 2) < 0.02


@pytest.mark.parametrize("name, dpi", [("m.svg", 144), ("m.png", 0), ("m.png", True),
                                       ("m.png", 2.5)])
def test_render_bad_dpi(tmp_path, name, dpi):
    with pytest.raises(ValueError, match="dpi"):
        gc.render(curve_fit(), tmp_path / name, dpi=dpi)
    assert not (tmp_path / name).exists()


def test_render_without_dot_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    with pytest.raises(GraphvizNotFoundError) as e:
        gc.render(curve_fit(), tmp_path / "m.svg")
    msg = str(e.value)
    assert "graphviz" in msg and "apt-get install graphviz" in msg and "brew install" in msg
    assert isinstance(e.value, RuntimeError) and not (tmp_path / "m.svg").exists()


def test_render_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.pdf"):
        gc.render(curve_fit(), tmp_path / "m.jpeg")


def test_to_networkx_attributes():
    g = curve_fit(grad=True)
    d = gc.to_networkx(g)
    assert isinstance(d, nx.DiGraph) and nx.is_directed_acyclic_graph(d)
    assert sorted(d.nodes) == list(range(len(g)))
    for n in g.nodes:
        a = d.nodes[n.id]
        assert a["op"] == n.op and a["shape"] == tuple(n.shape) and type(a["shape"]) is tuple
        assert a["dtype"] == "float64" and a["name"] == n.name and a["role"] == n.role
        assert a["role"] in ("input", "param", "constant", "op")
        assert set(d.predecessors(n.id)) == set(n.inputs)
    assert d.nodes[0]["shape"] == ("B", 1) and d.nodes[0]["role"] == "input"
    assert d.nodes[2]["name"] == "mlp/0/W" and d.nodes[2]["scope"] == "mlp/0"
    assert d.nodes[4]["kind"] == "matmul" and not d.nodes[4]["backward"]
    assert d.edges[4, 5]["shape"] == ("B", 16) and d.edges[4, 5]["operands"] == (0,)
    unb = [i for i, a in d.nodes(data=True) if a["info"].get("unbroadcast")]
    assert unb and all(d.nodes[i]["backward"] for i in unb)
    assert d.graph["outputs"]["loss"] == g.outputs["loss"].id


def test_to_networkx_repeated_operand_and_function():
    g = gc.Graph("sq")
    x = g.input("x", ("B",))
    W = g.param("W", np.ones(1))
    y = gc.sum(x * x * W)
    d = gc.to_networkx(y)
    assert d.edges[0, 2]["operands"] == (0, 1)
    (gW,) = gc.grad(y, [W])
    f = gc.compile(y, updates={W: W - 0.5 * gW})
    fd = gc.to_networkx(f)
    assert set(fd.nodes) == set(f.program.schedule)
    assert list(fd.graph["updates"]) == ["W"]
