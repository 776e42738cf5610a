"""The graphc CLI on ONNX files: ``graphc info|dot|render model.onnx``, read with
``gc.onnx.load``; ``--depth`` and ``--fold`` as for graphc's own files."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc import cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HAS_DOT = shutil.which("dot") is not None


def run(capsys, *args) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def helper_model(tmp_path_factory):
    """Built with onnx.helper: y = relu(x @ W + b) under the name scope /block/, batch N."""
    W = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "block.W")
    b = numpy_helper.from_array(np.ones(3, np.float32), "block.b")
    nodes = [helper.make_node("MatMul", ["x", "block.W"], ["h"], name="/block/MatMul"),
             helper.make_node("Add", ["h", "block.b"], ["z"], name="/block/Add"),
             helper.make_node("Relu", ["z"], ["y"], name="/Relu")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=[W, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("cli_onnx") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def layered_model(tmp_path_factory):
    """A graphc MLP of four identical hidden layers, exported with gc.onnx.save."""
    g = gc.Graph("deep")
    x = g.input("x", ("B", 8))
    net = gc.nn.MLP([8, 8, 8, 8, 8, 2], activation="tanh")
    g.output("y", net(x))
    path = tmp_path_factory.mktemp("cli_onnx") / "deep.onnx"
    gc.onnx.save(g, path)
    return path


def test_info_of_an_onnx_model(capsys, helper_model):
    status, out, err = run(capsys, "info", helper_model)
    assert status == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"model .tiny. \(.*tiny\.onnx\): \d+ nodes", lines[0]), lines[0]
    assert "  x  (N, 4) float32" in lines and "symbols: N" in lines
    assert any(re.fullmatch(r"  block\.W  \(4, 3\) float32  12", ln) for ln in lines), out
    assert "params (2 tensors, 15 values):" in lines
    assert "param bytes: 60" in lines  # 15 float32 values
    assert "onnx ops (3 nodes):" in lines
    assert {"  MatMul          1", "  Add             1", "  Relu            1"} <= set(lines)


def test_dot_clusters_by_name_scope(capsys, helper_model):
    status, out, err = run(capsys, "dot", helper_model)
    assert status == 0, err
    assert out.startswith("digraph ")
    assert 'label="block"' in out  # the /block/ scope is a cluster; /Relu is at the top


def test_fold_and_depth_on_an_exported_model(capsys, layered_model):
    status, plain, err = run(capsys, "dot", layered_model)
    assert status == 0, err
    assert "×" not in plain
    status, folded, err = run(capsys, "dot", layered_model, "--fold")
    assert status == 0, err
    assert "mlp/0 … 3  ×4" in folded, folded
    assert folded.count("->") < plain.count("->")
    status, shallow, err = run(capsys, "dot", layered_model, "--depth", "1")
    assert status == 0, err
    # the layers are boxes now: no matmul node of its own, a module box per layer
    assert "<b>matmul</b>" in plain and "<b>matmul</b>" not in shallow
    assert len(re.findall(r'tooltip="module mlp/\d"', shallow)) == 5
    assert shallow.count("->") < plain.count("->")


def test_the_same_diagram_as_the_json_file(capsys, tmp_path):
    """An exported graph, read back from ONNX, draws with the same clusters."""
    g = gc.Graph("deep")
    x = g.input("x", ("B", 8))
    g.output("y", gc.nn.MLP([8, 8, 8, 2])(x))
    gc.save(g, tmp_path / "m.json")
    gc.onnx.save(g, tmp_path / "m.onnx")
    outs = []
    for name in ("m.json", "m.onnx"):
        status, out, err = run(capsys, "dot", tmp_path / name, "--depth", "1")
        assert status == 0, err
        outs.append(sorted(re.findall(r'label="(mlp[^"]*)"', out)))
    assert outs[0] == outs[1] and outs[0]


@pytest.mark.skipif(not HAS_DOT, reason="the graphviz dot binary is not installed")
def test_render_an_onnx_file(capsys, layered_model, tmp_path):
    out = tmp_path / "deep.svg"
    status, text, err = run(capsys, "render", layered_model, "--fold", "-o", out)
    assert status == 0, err
    assert text.strip() == f"wrote {out}"
    assert "<svg" in out.read_text()


def test_a_bad_onnx_file_is_one_line_error(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage, not a protobuf\xff\xff")
    status, out, err = run(capsys, "info", bad)
    assert status == 1 and out == ""
    assert err.startswith("graphc: error: ") and err.count("\n") == 1
    assert "ONNX" in err


def test_an_unknown_op_type_is_named(capsys, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], name="/f/Frob", domain="example.com")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid("example.com", 1)])
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    status, out, err = run(capsys, "dot", path)
    assert status == 1
    assert "Frobnicate" in err


def test_without_the_onnx_package(capsys, helper_model, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else real(name, *a))
    status, out, err = run(capsys, "info", helper_model)
    assert status == 1
    assert "needs the onnx package (pip install graphc[onnx])" in err


def test_a_json_file_is_still_read_as_json(capsys, tmp_path):
    g = gc.Graph("plain")
    g.output("y", gc.tanh(g.input("x", (2,))))
    gc.save(g, tmp_path / "plain.json")
    status, out, err = run(capsys, "info", tmp_path / "plain.json")
    assert status == 0, err
    assert "onnx ops" not in out and "symbols:" not in out


def test_the_command_line_end_to_end(helper_model):
    r = subprocess.run([sys.executable, "-m", "graphc", "info", str(helper_model)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "onnx ops (3 nodes):" in r.stdout
