"""Models exported by torch (``torch.onnx.export``: the dynamo exporter and the legacy
TorchScript one), imported with ``gc.onnx.load``: outputs equal torch's, ``gc.grad`` of a
loss on the outputs with respect to the imported initializers equals torch's ``.grad`` of
the same loss for the same parameters, and ``gc.optim`` fine-tunes them. The batch is a
symbol: one compiled Function runs every batch size."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
nn = torch.nn


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.bn(self.conv(x)))), 1))


class Recurrent(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(nn, kind)(3, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y)


def _cnn():
    m = SmallCNN()
    with torch.no_grad():   # running statistics that are not the identity
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    return m, (3, 8, 8)


def _transformer():
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu",
                                      batch_first=True), (4, 8)


MODELS = {
    "cnn": _cnn,
    "lstm": lambda: (Recurrent("LSTM"), (4, 3)),
    "gru": lambda: (Recurrent("GRU"), (4, 3)),
    "transformer": _transformer,
}

CASES = [(m, e) for m in MODELS for e in ("dynamo", "legacy")
         # torch 2.13's legacy exporter fails on TransformerEncoderLayer (scaled_dot_product
         # _attention gets a Tensor is_causal)
         if not (m == "transformer" and e == "legacy")]


def _export(model, sample, exporter: str, path):
    """The model exported with a symbolic batch (dim 0 of the input), as a ModelProto."""
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            program = torch.onnx.export(
                model, (sample,), dynamo=True, input_names=["x"], verbose=False,
                dynamic_shapes=({0: torch.export.Dim("batch", max=1024)},),
                optimize=False)   # optimize=True folds BatchNorm into the conv's weights
            return program.model_proto
        torch.onnx.export(model, (sample,), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}},
                          do_constant_folding=False)
    return onnx.load(str(path))


_EXPORTED: dict[tuple, bytes] = {}   # (model, exporter, dtype) -> model bytes (exports are slow)


def _imported(name: str, exporter: str, dtype, tmp_path):
    """The torch model (seeded: the same weights each time), its input shape without the
    batch, and its export imported."""
    torch.manual_seed(0)
    model, shape = MODELS[name]()
    model = model.to(dtype).eval()
    key = (name, exporter, dtype)
    if key not in _EXPORTED:
        sample = torch.randn(2, *shape, dtype=dtype)
        _EXPORTED[key] = _export(model, sample, exporter,
                                 tmp_path / "model.onnx").SerializeToString()
    return model, shape, gc.onnx.load(_EXPORTED[key])


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else \
        {"rtol": 1e-10, "atol": 1e-12}


# a dynamo export takes seconds: its float64 runs are marked slow
@pytest.mark.parametrize("name,exporter,dtype", [
    (m, e, d) if d == torch.float32 or e == "legacy" else
    pytest.param(m, e, d, marks=pytest.mark.slow)
    for m, e in CASES for d in (torch.float32, torch.float64)],
    ids=[f"{m}-{e}-{d}" for m, e in CASES for d in ("f32", "f64")])
def test_forward_and_gradients_match_torch(name, exporter, dtype, tmp_path):
    model, shape, g = _imported(name, exporter, dtype, tmp_path)
    (x,) = g.inputs.values()
    (y,) = g.outputs.values()
    assert isinstance(x.shape[0], gc.Dim), x.shape           # the batch is a symbol
    assert np.dtype(y.dtype) == np.dtype(str(dtype).removeprefix("torch."))
    params = dict(model.named_parameters())
    tensors = g.param_tensors
    assert set(params) <= set(tensors), set(params) - set(tensors)
    names = sorted(params)
    weights = g.input("weights", tuple(y.shape), y.dtype)    # loss = sum(y * weights)
    grads = gc.grad(gc.sum(y * weights), [tensors[n] for n in names])
    f = gc.compile([y, *grads], inputs=[x, weights])
    rng = np.random.default_rng(1)
    tol = _tol(dtype)
    for batch in (1, 3, 4):
        xb = torch.from_numpy(rng.standard_normal((batch, *shape))).to(dtype)
        model.zero_grad()
        want = model(xb)
        wb = torch.from_numpy(rng.standard_normal(tuple(want.shape))).to(dtype)
        (want * wb).sum().backward()
        got, *got_grads = f(xb.numpy(), wb.numpy())
        np.testing.assert_allclose(got, want.detach().numpy(), **tol)
        for n, gr in zip(names, got_grads):
            ref = params[n].grad.numpy()
            scale = float(np.abs(ref).max())
            # float32 gradients sum over the batch and time: relative to the largest entry
            np.testing.assert_allclose(gr, ref, rtol=tol["rtol"] * 10,
                                       atol=tol["rtol"] * 10 * scale, err_msg=n)


LR = {"cnn": 0.03, "lstm": 0.1, "gru": 0.1, "transformer": 0.1}


@pytest.mark.parametrize("name", list(MODELS))
def test_fine_tune_with_sgd(name, tmp_path):
    """A few SGD steps in graphc lower the loss; the fine-tuned params, put back into the
    torch model, give graphc's outputs."""
    model, shape, g = _imported(name, "dynamo", torch.float32, tmp_path)
    (x,) = g.inputs.values()
    (y,) = g.outputs.values()
    loss = gc.mean(gc.square(y - 1.0))
    trainable = [g.param_tensors[n] for n, _ in model.named_parameters()]
    step = gc.compile(loss, inputs=[x], updates=gc.optim.SGD(lr=LR[name]).updates(loss, trainable))
    xb = np.random.default_rng(2).standard_normal((6, *shape)).astype(np.float32)
    losses = [float(step(xb)) for _ in range(10)]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.7 * losses[0], losses
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.from_numpy(np.asarray(g.params[n])))
        want = model(torch.from_numpy(xb)).numpy()
    got = gc.compile(y, inputs=[x])(xb)
    np.testing.assert_allclose(got, want, **_tol(torch.float32))
