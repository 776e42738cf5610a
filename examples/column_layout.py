"""The seed's own layout: column vectors, x ``(B, 1, 1)``, ``W @ x + b`` with b ``(n, 1)``.

    python examples/column_layout.py [--quick]

Part 1 builds the sin(x) curve fit twice -- in graphc's row layout (``x @ W + b``, b ``(n,)``)
and in the column layout (``W @ x + b``, b ``(n, 1)``) -- from the same initial values, and
trains both on the same batches: the losses agree to rounding. Part 2 makes the classic
mistake of the column layout, a bias of shape ``(n,)``: numpy silently turns ``(B, n, 1)``
into ``(B, n, n)``; graphc's broadcast diagnostics name the line and the fix.
Writes ``images/column_layout.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import graphc as gc

IMAGES = Path(__file__).resolve().parent.parent / "images"


@dataclasses.dataclass(eq=False, repr=False)
class ColumnLinear(gc.nn.Module):
    """``W @ x + b`` on column vectors: x ``(..., n_in, 1)``, W ``(n_out, n_in)``, b ``(n_out, 1)``.

    ``bias_shape="flat"`` declares b ``(n_out,)`` instead: the bias bug, kept for part 2.
    """

    # configuration (the dataclass fields a user sets) ...
    n_in: int
    n_out: int
    bias_shape: str = "column"
    # ... and the parameters, created by build() on the first call
    W: gc.Tensor | None = dataclasses.field(default=None, init=False, repr=False)
    b: gc.Tensor | None = dataclasses.field(default=None, init=False, repr=False)

    def build(self, x: gc.Tensor) -> None:
        # Glorot's scale sqrt(6 / (fan_in + fan_out)) is symmetric, so the transposed W draws
        # from the same distribution as the row layout's
        self.W = self.param("W", gc.nn.init.glorot_uniform, (self.n_out, self.n_in))
        shape = (self.n_out, 1) if self.bias_shape == "column" else (self.n_out,)
        self.b = self.param("b", gc.nn.init.zeros, shape)

    def forward(self, x: gc.Tensor) -> gc.Tensor:
        return self.W @ x + self.b


def column_model(n: int, bias_shape: str = "column") -> gc.nn.Sequential:
    """1 -> n -> 1 with tanh, in the column layout."""
    return gc.nn.Sequential([ColumnLinear(1, n, bias_shape), gc.nn.Tanh(),
                             ColumnLinear(n, 1, bias_shape)], name="col")


def compare_layouts(n: int, epochs: int, seed: int, progress: bool) -> dict:
    """Train the row and the column model from the same start on the same batches."""
    rng = np.random.default_rng(seed)
    x_np = rng.uniform(-np.pi, np.pi, size=(256, 1))
    y_np = np.sin(x_np)

    row = gc.Graph("row_layout")
    x = row.input("x", ("B", 1))
    y = row.input("y", ("B", 1))
    mlp = gc.nn.MLP([1, n, 1], activation="tanh", rng=seed)
    row_loss = gc.nn.mse_loss(mlp(x), y)

    col = gc.Graph("column_layout")
    xc = col.input("x", ("B", 1, 1))
    yc = col.input("y", ("B", 1, 1))
    cm = column_model(n)
    col_pred = cm(xc)
    col_loss = gc.nn.mse_loss(col_pred, yc)
    # the same start: each column weight is the transpose of the row one, b (n,) -> (n, 1)
    for r, c in zip(mlp.layers, [cm.steps[0], cm.steps[2]], strict=True):
        col.params[c.W.name][...] = row.params[r.W.name].T
        col.params[c.b.name][...] = row.params[r.b.name][:, None]

    hists = {}
    for name, loss, feed in [("row", row_loss, {x: x_np, y: y_np}),
                             ("column", col_loss, {xc: x_np[:, :, None], yc: y_np[:, :, None]})]:
        opt = gc.optim.SGD(lr=0.1, momentum=0.9)
        hists[name] = gc.nn.fit(loss, opt, feed, epochs=epochs, batch_size=32, seed=seed,
                                progress=progress, desc=f"{name} layout")
    a, b = np.array(hists["row"].step_loss), np.array(hists["column"].step_loss)
    rel = float(np.max(np.abs(a - b) / np.abs(a)))
    print(f"column_layout: row layout    x (B, 1) @ W (1, {n}) + b ({n},)      final loss "
          f"{hists['row'].loss[-1]:.3g}")
    print(f"column_layout: column layout W ({n}, 1) @ x (B, 1, 1) + b ({n}, 1) final loss "
          f"{hists['column'].loss[-1]:.3g}")
    print(f"column_layout: over {len(a)} steps the two losses differ by at most {rel:.1e} "
          "(relative): the same model, laid out two ways")
    return {"row": hists["row"], "column": hists["column"], "max_rel_diff": rel}


def bias_bug(n: int) -> dict:
    """Declare b (n,) in the column layout and show what graphc says."""
    g = gc.Graph("bias_bug")
    x = g.input("x", ("B", 1, 1))
    y = g.input("y", ("B", 1, 1))
    model = column_model(n, bias_shape="flat")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gc.ShapeWarning)
        pred = model(x)
    shape_warnings = [w for w in caught if issubclass(w.category, gc.ShapeWarning)]
    print(f"\ncolumn_layout: with b ({n},) the hidden layer is {hidden_shape(g)} and the "
          f"prediction {pred.shape}, not (B, 1, 1)")
    for w in shape_warnings:
        print(f"gc.ShapeWarning at {Path(w.filename).name}:{w.lineno}:\n  {w.message}")
    loss_error = None
    try:
        gc.nn.mse_loss(pred, y)
    except gc.ShapeError as e:
        loss_error = str(e)
        print(f"\ngc.nn.mse_loss then refuses the mismatch:\n  {loss_error}")
    strict_error = None
    gs = gc.Graph("bias_bug_strict", strict=True)
    try:
        column_model(n, bias_shape="flat")(gs.input("x", ("B", 1, 1)))
    except gc.ShapeError as e:
        strict_error = str(e)
        print(f"\nand gc.Graph(strict=True) stops at the line itself:\n  {strict_error}")
    return {"warnings": [str(w.message) for w in shape_warnings], "pred_shape": pred.shape,
            "loss_error": loss_error, "strict_error": strict_error}


def hidden_shape(g: gc.Graph) -> gc.Shape:
    """The shape of the first layer's bias add: the first add node of the graph."""
    return next(node.shape for node in g.nodes if node.op == "add")


def main(argv: list[str] | None = None) -> dict:
    """Run both parts; returns what they found (the tests read it)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   default=os.environ.get("GRAPHC_QUICK", "") not in ("", "0"),
                   help="a small, fast run (also GRAPHC_QUICK=1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=IMAGES, help="folder for the pictures")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    n = 8 if args.quick else 16
    result = compare_layouts(n, 3 if args.quick else 150, args.seed, not args.no_progress)
    result.update(bias_bug(n))
    if not args.no_plot:
        args.out.mkdir(parents=True, exist_ok=True)
        path = plot(args.out / "column_layout.png", result["row"], result["column"])
        print(f"\ncolumn_layout: wrote {path}")
    result["seconds"] = time.perf_counter() - t0
    print(f"column_layout: total {result['seconds']:.2f} s")
    return result


def plot(path: Path, row: gc.nn.History, column: gc.nn.History) -> Path:
    """Both layouts' step losses: one curve on top of the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.semilogy(row.step_loss, lw=3, alpha=0.5, label="row layout: x @ W + b, b (n,)")
    ax.semilogy(column.step_loss, "k", lw=0.8, label="column layout: W @ x + b, b (n, 1)")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE (batch)")
    ax.set_title("the same model in two layouts trains identically")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
