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


# ==================================================== control characters never reach the terminal
#: what a model file's names could send to a terminal: colour, bell, carriage return, the C1
#: CSI, DEL, and a newline that would forge a line of the report
CONTROL = ["\x1b[31m", "\x07", "\r", "\x9b", "\x7f", "\n"]
ESCAPED = ["\\x1b[31m", "\\x07", "\\r", "\\x9b", "\\x7f", "\\n"]


def graphc_raw(*args: str) -> subprocess.CompletedProcess:
    """``graphc ARGS`` with stdout and stderr decoded as they are (text mode would turn a
    carriage return into a newline)."""
    r = subprocess.run([sys.executable, "-m", "graphc", *map(str, args)], capture_output=True,
                       timeout=120)
    r.stdout, r.stderr = r.stdout.decode("utf-8"), r.stderr.decode("utf-8")
    return r


def no_controls(text: str) -> bool:
    """True when ``text`` holds no C0 or C1 control character, nor DEL, other than newline."""
    return not any((ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f for c in text)


@pytest.fixture(scope="module")
def control_model(tmp_path_factory):
    """A saved model whose name, input, param and output names carry control characters,
    saved under a file name that carries some too."""
    g = gc.Graph("m" + "".join(CONTROL))
    x = g.input("x" + "".join(CONTROL), ("B", 1))
    w = g.param("w" + "".join(CONTROL), np.ones((1, 1)))
    g.output("y" + "".join(CONTROL), x @ w)
    path = tmp_path_factory.mktemp("cli") / "ctl\x1b]0;title\x07.json"
    gc.save(g, path)
    assert gc.load(path).inputs.keys() == {"x" + "".join(CONTROL)}  # the names went through
    return path


def test_info_escapes_the_control_characters_of_names(control_model):
    r = graphc_raw("info", control_model)
    assert r.returncode == 0, r.stderr
    assert no_controls(r.stdout), repr(r.stdout)
    lines = r.stdout.splitlines()
    assert len(lines) == 10  # a newline in a name forges no line
    for line, name in [(lines[0], "(" + str(control_model.parent)), (lines[2], "x"),
                       (lines[4], "y"), (lines[6], "w")]:
        assert all(e in line for e in ESCAPED), (line, name)
    assert "ctl\\x1b]0;title\\x07.json" in lines[0]


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_render_escapes_control_characters_of_the_path_and_names(control_model, tmp_path):
    out = tmp_path / "out\x1b[31m\r.svg"
    r = graphc_raw("render", control_model, "-o", out)
    assert r.returncode == 0, r.stderr
    assert no_controls(r.stdout) and no_controls(r.stderr), (r.stdout, r.stderr)
    assert r.stdout == f"wrote {tmp_path}/out\\x1b[31m\\r.svg\n"
    assert no_controls(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("args", [
    ["info", "{tmp}/nope\x1b[31m\x07\r.json"],           # an OSError's file name
    ["dot", "{model}", "--grad", "--loss", "\x1b[31m\x07\r"],  # a usage error naming it
    ["dot", "{model}", "--grad"],                         # a model error naming an output
    ["info", "{model}", "extra\x1b[31m\x07\r"],           # argparse's own message
])
def test_error_messages_escape_control_characters(control_model, tmp_path, args):
    r = graphc_raw(*[a.format(tmp=tmp_path, model=control_model) for a in args])
    assert r.returncode in (1, 2) and r.stdout == ""
    assert no_controls(r.stderr), repr(r.stderr)
    assert "\\x1b[31m" in r.stderr and "\\x07" in r.stderr and "\\r" in r.stderr


# ============================================================= render's budget: size and time
def chain_file(tmp_path, n: int = 200):
    """``n`` one-param modules applied in sequence, each its own module scope, saved (the
    file that, drawn with --grad, kept dot busy for minutes)."""
    g = gc.Graph("chain")
    h = g.input("x", ("B", 1))
    for _ in range(n):
        h = gc.nn.Linear(1, 1, bias=False)(h)
    g.output("loss", gc.mean(h ** 2))
    gc.save(g, tmp_path / "chain.json")
    return tmp_path / "chain.json"


NOTE = (r"graphc: note: (\d+) nodes; drawn with --depth (\d+) "
        r"\(pass --depth/--max-nodes to choose\)(; still \d+: --fold may draw fewer)?")


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
@pytest.mark.parametrize("grad", [False, True])
def test_render_of_200_modules_collapses_them_and_says_so(tmp_path, grad):
    import re
    import time

    from graphc.viz.rendering import MAX_NODES

    model = chain_file(tmp_path)
    t = time.perf_counter()
    r = graphc("render", model, "-o", tmp_path / "chain.svg", *(["--grad"] if grad else []))
    assert time.perf_counter() - t < 60
    assert r.returncode == 0 and r.stdout == f"wrote {tmp_path / 'chain.svg'}\n", r.stderr
    m = re.fullmatch(NOTE, r.stderr.strip())
    assert m and int(m[1]) > MAX_NODES and m[2] == "0" and bool(m[3]) == grad, r.stderr
    assert b"linear_199" in (tmp_path / "chain.svg").read_bytes()
    if not grad:  # forward, collapsed, it is under the budget (with --grad, 400 outputs are not)
        text = graphc("dot", model, "--depth", "0").stdout
        drawn = len(re.findall(r"^\s+(n\d|fbox|out)\w* \[", text, re.M))
        assert drawn + text.count("subgraph cluster_") < MAX_NODES
    # a budget of the user's: no note
    r = graphc("render", model, "-o", tmp_path / "c.svg", "--max-nodes", "0", "--depth", "0")
    assert r.returncode == 0 and r.stderr == ""


def test_render_timeout(tmp_path, monkeypatch):
    """A dot that does not finish is stopped after --timeout seconds: one line saying what to
    draw less of."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").write_text("#!/bin/sh\nexec sleep 30\n")
    (bin_dir / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    model = chain_file(tmp_path, 3)
    r = graphc("render", model, "-o", tmp_path / "m.svg", "--timeout", "0.5")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("graphc: error: render: dot did not finish within 0.5 s")
    assert "--depth" in r.stderr and "--fold" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "m.svg").exists()


@pytest.mark.parametrize("args, message", [
    (["--max-nodes", "-1"], "--max-nodes must be >= 0"),
    (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
    (["--timeout", "nan"], "--timeout must be a number of seconds > 0"),
])
def test_bad_budget_is_a_usage_error(model, tmp_path, args, message):
    r = graphc("render", model, "-o", tmp_path / "m.svg", *args)
    assert r.returncode == 2 and r.stderr.startswith(f"graphc: error: {message}")
    assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "m.svg").exists()


def test_warnings_are_one_escaped_line():
    """Any warning while the command runs (a lint's, say) is one line, escaped like errors."""
    from graphc.cli import warning_line

    assert warning_line(UserWarning("bad \x1b[31mname\n  at x.py:3")) == (
        "graphc: warning: bad \\x1b[31mname")
