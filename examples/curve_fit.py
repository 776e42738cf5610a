"""Fit y = sin(x) on [-pi, pi] with a small MLP: the problem graphc grew out of, end to end.

    python examples/curve_fit.py            # about a second of training, with a progress bar
    python examples/curve_fit.py --quick    # a few epochs (what the tests run)

Declares the model on a symbolic batch ``(B, 1)``, lets ``gc.grad`` and ``gc.optim.Adam`` build
the backward pass and the update into the same graph, compiles forward + backward + update
into one numpy function, trains it with ``gc.nn.fit``, and checks the fit on a held-out grid.
Writes ``images/curve_fit.png`` (data, fit, loss curves) and, when graphviz is available,
``images/curve_fit_graph.svg`` (the forward + backward graph).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import graphc as gc

IMAGES = Path(__file__).resolve().parent.parent / "images"


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points x ~ U(-pi, pi), y = sin(x), both (n, 1)."""
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return x, np.sin(x)


def build_model(hidden: tuple[int, ...] = (32, 32), seed: int = 0):
    """The graph: inputs x, y (B, 1), an MLP 1 -> hidden -> 1 with tanh, the MSE loss."""
    g = gc.Graph("curve_fit")
    x = g.input("x", ("B", 1))
    y = g.input("y", ("B", 1))
    model = gc.nn.MLP([1, *hidden, 1], activation="tanh", rng=seed)
    pred = model(x)
    loss = gc.nn.mse_loss(pred, y)
    return g, x, y, model, pred, loss


def main(argv: list[str] | None = None) -> dict:
    """Train and report; returns the numbers it prints (the tests read them)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   default=os.environ.get("GRAPHC_QUICK", "") not in ("", "0"),
                   help="a small, fast run (also GRAPHC_QUICK=1)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=IMAGES, help="folder for the pictures")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    t_start = time.perf_counter()

    rng = np.random.default_rng(args.seed)
    n_train = 128 if args.quick else 512
    epochs = args.epochs or (5 if args.quick else 300)
    x_train, y_train = make_data(n_train, rng)
    x_val, y_val = make_data(256, rng)
    # the held-out grid: evenly spaced, never trained on
    x_grid = np.linspace(-np.pi, np.pi, 1001).reshape(-1, 1)

    g, x, y, model, pred, loss = build_model((16,) if args.quick else (32, 32), args.seed)
    opt = gc.optim.Adam(lr=0.01)

    def schedule(epoch: int, hist: gc.nn.History) -> None:
        # the lr is a graph param: changing it needs no recompilation
        if epoch in (int(0.6 * epochs), int(0.85 * epochs)):
            opt.lr = opt.lr * 0.3

    hist = gc.nn.fit(loss, opt, {x: x_train, y: y_train}, epochs=epochs, batch_size=64,
                     val_data={x: x_val, y: y_val}, seed=args.seed, on_epoch_end=schedule,
                     progress=not args.no_progress, desc="curve_fit")

    predict = gc.compile(pred, inputs=[x])
    fit_grid = predict(x_grid)
    mse = float(np.mean((fit_grid - np.sin(x_grid)) ** 2))
    seconds = time.perf_counter() - t_start
    print(f"curve_fit: {hist.steps} steps in {hist.seconds:.2f} s; train loss "
          f"{hist.loss[-1]:.3g}; held-out grid MSE {mse:.2e} "
          f"({'below' if mse < 1e-3 else 'ABOVE'} the 1e-3 target)")

    images = []
    if not args.no_plot:
        args.out.mkdir(parents=True, exist_ok=True)
        images.append(plot(args.out / "curve_fit.png", x_train, y_train, x_grid, fit_grid, hist,
                           mse))
        # the forward + backward graph: the loss and its gradients w.r.t. every parameter
        grads = gc.grad(loss, model.parameters())
        try:
            path = args.out / "curve_fit_graph.svg"
            gc.render([loss, *grads], path)
            images.append(path)
        except Exception as e:  # noqa: BLE001 - a missing `dot` must not fail the demo
            print(f"curve_fit: no diagram ({type(e).__name__}: {e})")
        for path in images:
            print(f"curve_fit: wrote {path}")
    print(f"curve_fit: total {time.perf_counter() - t_start:.2f} s")
    return {"mse": mse, "history": hist, "images": images, "seconds": seconds}


def plot(path: Path, x_train, y_train, x_grid, fit_grid, hist: gc.nn.History, mse: float) -> Path:
    """Data vs fit on the left, the loss curves on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    ax0.scatter(x_train[:, 0], y_train[:, 0], s=6, alpha=0.4, label="training data")
    ax0.plot(x_grid[:, 0], np.sin(x_grid[:, 0]), "k--", lw=1, label="sin(x)")
    ax0.plot(x_grid[:, 0], fit_grid[:, 0], "C3", lw=2, label=f"MLP fit (grid MSE {mse:.1e})")
    ax0.set_xlabel("x")
    ax0.set_title("y = sin(x) on [-π, π]")
    ax0.legend(loc="upper left")
    epochs = np.arange(1, len(hist.loss) + 1)
    ax1.semilogy(epochs, hist.loss, label="train (epoch mean)")
    if hist.val_loss:
        ax1.semilogy(epochs, hist.val_loss, label="validation")
    for e in np.flatnonzero(np.diff(hist.lr)) + 2:  # the epochs whose lr was lowered
        ax1.axvline(e, color="gray", ls=":", lw=1)
    ax1.set_xlabel("epoch (dotted: lr lowered, same compiled step)")
    ax1.set_ylabel("MSE")
    ax1.set_title("loss")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
