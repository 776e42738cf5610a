"""The graphc CLI end to end, as a subprocess on a saved model file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

HAS_DOT = shutil.which("dot") is not None


def graphc(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    g = gc.Graph("curve_fit")
    x, y = g.input("x", ("B", 1)), g.input("y", ("B", 1))
    with g.name_scope("mlp"):
        with g.name_scope("0"):
            h = gc.tanh(x @ g.param("W", np.ones((1, 16))) + g.param("b", np.zeros(16)))
        with g.name_scope("1"):
            pred = h @ g.param("W", np.ones((16, 1))) + g.param("b", np.zeros(1))
    g.output("loss", gc.mean((pred - y) ** 2))
    path = tmp_path_factory.mktemp("cli") / "model.json"
    gc.save(g, path)
    return path


def test_help():
    r = graphc("--help")
    assert r.returncode == 0
    for word in ("render", "dot", "info", "--loss"):
        assert word in r.stdout


def test_info(model):
    r = graphc("info", model)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "x  (B, 1) float64" in out and "loss  () float64" in out
    assert "params (4 tensors, 49 values)" in out and "mlp/0/W  (1, 16) float64  16" in out
    assert "matmul          2" in out and "tanh            1" in out


def test_dot_grad_depth(model, tmp_path):
    r = graphc("dot", model, "--grad", "--depth", "1")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.startswith('digraph "curve_fit"') and "cluster_backward" in text
    assert "∂loss/∂mlp/0/W" in text and "<b>mlp/0</b>" in text
    r2 = graphc("dot", model, "-o", tmp_path / "m.dot")
    assert r2.returncode == 0 and r2.stdout == ""
    assert (tmp_path / "m.dot").read_text().startswith("digraph")
    assert "cluster_backward" not in (tmp_path / "m.dot").read_text()


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_render_svg_with_grad(model, tmp_path):
    out = tmp_path / "model.svg"
    r = graphc("render", model, "-o", out, "--grad", "--legend")
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert b"<svg" in data[:400] and b"unbroadcast" in data and b"sum over B" in data


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_render_stacked_png_at_a_dpi(model, tmp_path):
    r = graphc("dot", model, "--grad", "--stack", "--legend")
    assert r.returncode == 0, r.stderr
    assert "gradients flow down" in r.stdout and 'dir="back"' not in r.stdout
    out = tmp_path / "model.png"
    r = graphc("render", model, "-o", out, "--grad", "--stack", "--dpi", "144")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("args, message", [
    (["info", "{missing}"], "No such file or directory"),
    (["info", "{garbage}"], "not valid JSON"),
    (["dot", "{newer}"], "newer than this graphc reads"),
    (["dot", "{model}", "--grad", "--loss", "nope"], "no output 'nope'"),
    (["render", "{model}", "-o", "{tmp}/m.gif"], r"\.svg, \.png or \.pdf"),
    (["render", "{model}", "-o", "{tmp}/m.svg", "--dpi", "144"], "dpi applies to .png"),
])
def test_bad_input_is_one_line_and_nonzero(model, tmp_path, args, message):
    import re

    (tmp_path / "garbage.json").write_text("{ this is not json")
    doc = json.loads(model.read_text())
    doc["version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(doc))
    paths = {"missing": tmp_path / "nope.json", "garbage": tmp_path / "garbage.json",
             "newer": tmp_path / "newer.json", "model": model, "tmp": tmp_path}
    r = graphc(*[a.format(**paths) for a in args])
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphc: error: "), r.stderr
    assert re.search(message, lines[0])


def test_usage_error_exit_2():
    r = graphc("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr
