"""The example scripts, run in their quick mode: each model's loss goes down within a few
steps, and each prints what it demonstrates."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUIET = ["--quick", "--no-plot", "--no-progress"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while being defined
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")
def test_curve_fit_reduces_its_loss_and_is_reproducible(capsys):
    mod = load("curve_fit")
    a = mod.main(QUIET)
    h = a["history"]
    assert h.steps == 10 and h.step_loss[-1] < h.step_loss[0] / 2
    assert "held-out grid MSE" in capsys.readouterr().out
    assert mod.main(QUIET)["mse"] == a["mse"]          # same seed, same result
    assert mod.main([*QUIET, "--seed", "1"])["mse"] != a["mse"]


def test_curve_fit_writes_its_plot(tmp_path):
    out = load("curve_fit").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    assert tmp_path / "curve_fit.png" in out["images"]
    assert (tmp_path / "curve_fit.png").stat().st_size > 10_000
    if hasattr(gc, "render") and (tmp_path / "curve_fit_graph.svg").exists():
        assert "<svg" in (tmp_path / "curve_fit_graph.svg").read_text()


def test_curve_fit_model_reduces_the_loss_in_a_few_steps():
    mod = load("curve_fit")
    g, x, y, model, pred, loss = mod.build_model((16,))
    xv, yv = mod.make_data(64, np.random.default_rng(0))
    step = gc.compile(loss, updates=gc.optim.Adam(0.01).updates(loss))
    losses = [float(step(xv, yv)) for _ in range(20)]
    assert losses[-1] < losses[0] / 2


def test_column_layout_trains_like_the_row_layout_and_the_bias_bug_is_caught(capsys):
    res = load("column_layout").main(QUIET)
    assert res["max_rel_diff"] < 1e-9
    assert res["column"].step_loss[-1] < res["column"].step_loss[0]
    assert res["pred_shape"] == ("B", 1, 8)
    assert res["warnings"] and "bias bug" in res["warnings"][0]
    assert "(8, 1)" in res["warnings"][0]               # says what was meant
    assert "column_layout.py" in res["strict_error"]    # points at the line
    assert "differ" in res["loss_error"]
    assert "gc.ShapeWarning at column_layout.py" in capsys.readouterr().out


@pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")
def test_spirals_reduces_its_loss():
    mod = load("classify_spirals")
    res = mod.main(QUIET)
    h = res["history"]
    assert h.steps == 9 and h.loss[-1] < h.step_loss[0]
    assert 0 <= res["test_acc"] <= 1
    x, labels = mod.make_spirals(10, np.random.default_rng(0))
    assert x.shape == (30, 2) and labels.dtype == np.int64 and set(labels) == {0, 1, 2}
