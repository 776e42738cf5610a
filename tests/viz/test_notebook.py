"""Inline diagrams in Jupyter: ``_repr_svg_`` of a Graph, Tensor and Function, and the quick
start notebook executed end to end (nbclient and ipykernel: the ``test`` extra)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
import graphc.viz.rendering as rendering

HAS_DOT = shutil.which("dot") is not None
NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def _model():
    g = gc.Graph("tiny")
    x = g.input("x", ("B", 2))
    loss = g.output("loss", gc.mean(gc.tanh(x @ g.param("W", np.ones((2, 3)))) ** 2))
    return g, loss


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_graph_tensor_and_function_draw_themselves_as_svg():
    g, loss = _model()
    f = gc.compile(loss)
    for target in (g, loss, f):
        svg = target._repr_svg_()
        assert isinstance(svg, str) and "<svg" in svg and "tanh" in svg, type(target)
    assert svg == gc.viz.to_svg(f)


def test_no_svg_without_the_dot_binary(monkeypatch):
    monkeypatch.setattr(rendering, "dot_binary", lambda: None)
    g, loss = _model()
    assert g._repr_svg_() is None and loss._repr_svg_() is None
    with pytest.raises(gc.viz.GraphvizNotFoundError):
        gc.render(g, "never.svg")


def test_the_quickstart_notebook_runs(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # kept clean
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.output_type == "execute_result"]
    assert len(shown) == 2                                  # the graph, the compiled step
    for o in shown:
        assert ("image/svg+xml" in o.data) == HAS_DOT
        if HAS_DOT:
            assert "<svg" in o.data["image/svg+xml"]
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "stream")
    first, last = (float(v) for v in printed.split("loss ")[1].split("\n")[0].split(" -> "))
    assert last < first / 2
    assert "def graphc_fn(" in printed                      # the generated source
