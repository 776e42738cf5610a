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
    return subprocess.run([sys.executable, "-m", "graphc", *map(str, args)],
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
    g.output("pred", pred)
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


@pytest.mark.parametrize("args, message, status", [
    (["info", "{missing}"], "No such file or directory", 1),
    (["info", "{garbage}"], "not valid JSON", 1),
    (["dot", "{newer}"], "newer than this graphc reads", 1),
    (["dot", "{model}", "--grad", "--loss", "nope"], "no output 'nope'", 2),
    (["dot", "{model}", "--grad", "--loss", "pred"], r"scalar loss.*'pred' has shape \(B, 1\)", 2),
    (["dot", "{model}", "--loss", "loss"], "only makes sense with --grad", 2),
    (["dot", "{model}", "--depth", "-1"], "--depth must be >= 0", 2),
    (["render", "{model}", "-o", "{tmp}/m.gif"], r"\.svg, \.png or \.pdf", 2),
    (["render", "{model}", "-o", "{tmp}/m.svg", "--dpi", "144"], "dpi applies to .png", 2),
])
def test_bad_input_is_one_line_and_nonzero(model, tmp_path, args, message, status):
    import re

    (tmp_path / "garbage.json").write_text("{ this is not json")
    doc = json.loads(model.read_text())
    doc["version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(doc))
    paths = {"missing": tmp_path / "nope.json", "garbage": tmp_path / "garbage.json",
             "newer": tmp_path / "newer.json", "model": model, "tmp": tmp_path}
    r = graphc(*[a.format(**paths) for a in args])
    assert r.returncode == status and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphc: error: "), r.stderr
    assert re.search(message, lines[0])
    # no "at file:line" of graphc's own entry point (the console script, runpy)
    assert not re.search(r"\bat \S+:\d+", lines[0]) and "bin/graphc" not in lines[0]


def test_usage_error_exit_2():
    r = graphc("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_an_error_leaves_out_the_location_of_graphcs_own_entry_point():
    from graphc.cli import error_message
    from graphc.ir.node import at_user

    e = gc.ShapeError(at_user("grad: y has shape (B, 1), not a scalar", "/venv/bin/graphc:6")
                      + " (y built at model.py:5)")
    assert error_message(e) == "grad: y has shape (B, 1), not a scalar"
    assert error_message(OSError(2, "No such file or directory", "m.json")) == (
        "m.json: No such file or directory")


@pytest.mark.parametrize("command", ["info", "dot"])
def test_a_closed_pipe_ends_quietly(model, command):
    """``graphc info m.json | head``: the reader goes away; no traceback, no message."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before graphc writes a byte
    try:
        r = subprocess.run([sys.executable, "-m", "graphc", command, str(model)], stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert r.stderr == "" and r.returncode == 141


def test_python_dash_m_graphc():
    r = subprocess.run([sys.executable, "-m", "graphc", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: graphc ")


def test_fold_folds_the_time_steps_of_a_saved_rnn(tmp_path):
    g = gc.Graph("rnn")
    x = g.input("x", ("B", 6, 2))
    with g.name_scope("rnn"):
        Wx, Wh = g.param("Wx", np.ones((2, 3))), g.param("Wh", np.eye(3))
    h = None
    for k in range(6):
        with g.scope(f"t{k}"):
            z = x[:, k] @ Wx
            h = gc.tanh(z if h is None else z + h @ Wh)
    g.output("loss", gc.mean(h ** 2))
    gc.save(g, tmp_path / "rnn.json")
    plain = graphc("dot", tmp_path / "rnn.json", "--grad")
    folded = graphc("dot", tmp_path / "rnn.json", "--grad", "--fold")
    assert plain.returncode == folded.returncode == 0, plain.stderr + folded.stderr
    assert all(f'label="t{k}"' in plain.stdout for k in range(6))
    assert "<b>t1 … t5  ×5</b>" in folded.stdout and "<b>∂ t1 … t4  ×4</b>" in folded.stdout
    assert len(folded.stdout) < len(plain.stdout) / 2
