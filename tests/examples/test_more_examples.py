"""The examples of the second wave: next-token (one compiled step at T = 5, 9 and 17, each
step equal to a hand-written numpy forward, backward and SGD update at that T), the character
transformer and the digits CNN, in their quick modes."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUIET = ["--quick", "--no-plot", "--no-progress"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def numpy_step(P: dict, onehot: np.ndarray, tokens: np.ndarray, lr: float):
    """Loss of the example's model and its params after one SGD step, in plain numpy."""
    V = onehot.shape[-1]
    rows = np.concatenate([onehot[:, 1:-1], onehot[:, :-2]], axis=-1).reshape(-1, 2 * V)
    labels = tokens[:, 2:].reshape(-1)
    n = len(labels)
    h = np.tanh(rows @ P["mlp/0/W"] + P["mlp/0/b"])
    z = h @ P["mlp/1/W"] + P["mlp/1/b"]
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    loss = np.mean(lse - z[np.arange(n), labels])
    dz = np.exp(z - lse[:, None])
    dz[np.arange(n), labels] -= 1
    dz /= n
    da = (dz @ P["mlp/1/W"].T) * (1 - h ** 2)
    grads = {"mlp/1/W": h.T @ dz, "mlp/1/b": dz.sum(0), "mlp/0/W": rows.T @ da,
             "mlp/0/b": da.sum(0)}
    return loss, {k: P[k] - lr * grads[k] for k in P}


def test_one_compiled_step_matches_numpy_at_every_length():
    import graphc as gc

    mod = load("next_token")
    g, x, tokens, mlp, logits, loss, acc = mod.build_model(hidden=16, seed=3)
    assert logits.shape == ("B*T - 2*B", mod.V)
    lr = 0.5
    step = gc.compile(loss, updates=gc.optim.SGD(lr).updates(loss))
    source = step.source
    rng = np.random.default_rng(0)
    for length in (5, 9, 17, 5):
        toks, onehot = mod.make_batch(6, length, rng)
        P = {k: v.copy() for k, v in g.params.items() if k.startswith("mlp/")}
        want_loss, want = numpy_step(P, onehot, toks, lr)
        got_loss = float(step(onehot, toks))
        assert got_loss == pytest.approx(want_loss, rel=1e-12)
        for k, v in want.items():
            np.testing.assert_allclose(g.params[k], v, rtol=1e-11, atol=1e-13)
    assert step.source == source


def test_the_example_learns_every_length_and_refuses_a_short_one(capsys):
    res = load("next_token").main(QUIET)
    losses = res["losses"]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) * 0.8
    assert set(res["held_out"]) == {5, 9, 17, 33}
    assert "needs T >= 2, but T = 1" in res["refusal"] and "next_token.py:" in res["refusal"]
    out = capsys.readouterr().out
    assert "through one compiled step" in out and "(B*T - 2*B, 10)" in out


def test_the_char_transformer_trains_every_length_through_one_step(capsys):
    res = load("char_transformer").main([*QUIET, "--steps", "40"])
    losses = res["losses"]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert res["sample"].startswith("Beautiful is ") and len(res["sample"]) == 13 + 60
    out = capsys.readouterr().out
    assert "steps over T in (16, 32, 64)" in out and "sample:" in out


def test_the_digits_cnn_trains_and_writes_its_pictures(tmp_path, capsys):
    pytest.importorskip("sklearn")
    res = load("digits_cnn").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    h = res["history"]
    assert h.loss[-1] < h.loss[0]
    assert (tmp_path / "digits_cnn.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "logits (N, 10)" in out
