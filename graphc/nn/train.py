"""Training: ``fit`` (mini-batches, seeded shuffling, progress bar, validation) and
``save_params`` / ``load_params`` (``.npz``)."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphc.backend.function import Function, compile
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.nn.module import Module
from graphc.optim.base import Optimizer


class NonFiniteLossError(FloatingPointError):
    """The loss became nan or inf during ``fit``; ``.step`` (1-based), ``.epoch``, ``.loss``."""

    def __init__(self, message: str, step: int, epoch: int, loss: float):
        super().__init__(message)
        self.step, self.epoch, self.loss = step, epoch, loss


@dataclasses.dataclass
class History:
    """What ``fit`` measured: per-epoch means (weighted by batch size) and every step's loss."""

    loss: list[float] = dataclasses.field(default_factory=list)
    step_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    #: validation metrics by name, one value per epoch
    val_metrics: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    lr: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.step_loss)


Data = Mapping[Any, Any]


def _feeds(g: Graph, data: Data, what: str) -> tuple[dict[str, np.ndarray], int]:
    """``data`` keyed by input name; all arrays share their first (batch) axis length."""
    if not isinstance(data, Mapping) or not data:
        raise TypeError(f"{what} must be a non-empty dict {{input Tensor or name: array}}")
    feeds: dict[str, np.ndarray] = {}
    for k, v in data.items():
        if isinstance(k, Tensor):
            g.own(k, f"{what} key")
            if k.node.role != "input":
                raise TypeError(f"{what} key {k!r} is not a graph input")
            k = k.name
        if not isinstance(k, str) or k not in g.inputs:
            raise KeyError(f"{what}: graph {g.name!r} has no input {k!r} "
                           f"(inputs: {', '.join(g.inputs)})")
        feeds[k] = np.asarray(v)
    sizes = {k: (a.shape[0] if a.ndim else None) for k, a in feeds.items()}
    n = set(sizes.values())
    if len(n) != 1 or None in n:
        raise ValueError(f"{what}: every array needs the same number of samples along axis 0, "
                         f"got {sizes}")
    return feeds, n.pop()


def _batches(n: int, batch_size: int, rng: np.random.Generator | None, drop_last: bool):
    order = rng.permutation(n) if rng is not None else None
    stop = n - n % batch_size if drop_last else n
    for s in range(0, stop, batch_size):
        e = min(s + batch_size, n)
        yield (order[s:e] if order is not None else slice(s, e)), e - s


def evaluate_batches(fn: Function, feeds: Mapping[str, np.ndarray], n: int,
                     batch_size: int) -> list[float]:
    """Sample-weighted means of ``fn``'s scalar outputs over ``feeds``, in batches."""
    totals: np.ndarray | None = None
    for idx, size in _batches(n, batch_size, None, False):
        outs = fn(**{k: feeds[k][idx] for k in fn.input_names})
        vals = np.array([float(o) for o in (outs if isinstance(outs, list) else [outs])])
        totals = vals * size if totals is None else totals + vals * size
    assert totals is not None
    return [float(v) for v in totals / n]


def fit(loss: Tensor, optimizer: Optimizer, data: Data, *, epochs: int = 1,
        batch_size: int = 32, params: Sequence[Tensor] | None = None,
        val_data: Data | None = None, metrics: Mapping[str, Tensor] | None = None,
        shuffle: bool = True, seed: int | np.random.Generator | None = 0,
        drop_last: bool = False, progress: bool = True, desc: str | None = None,
        on_epoch_end: Callable[[int, History], Any] | None = None) -> History:
    """Train: compile forward + backward + ``optimizer``'s update into one step, run it.

    ``data`` maps inputs (Tensors or names) to arrays with the samples along axis 0. Each
    epoch visits them in batches of ``batch_size`` (the last one smaller unless
    ``drop_last``), in an order shuffled by ``np.random.default_rng(seed)``: the same seed
    gives the same result. ``val_data`` is evaluated after every epoch with the loss and
    ``metrics`` ({name: scalar Tensor}). ``on_epoch_end(epoch, history)`` may change
    ``optimizer.lr`` (no recompilation) or return True to stop. A tqdm bar shows the loss.
    Raises ``NonFiniteLossError`` naming the step when the loss is nan or inf.
    """
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        raise TypeError(f"fit needs a scalar loss Tensor, got {loss!r}")
    if int(epochs) < 0 or int(batch_size) < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    epochs, batch_size = int(epochs), int(batch_size)
    g = loss.graph
    feeds, n = _feeds(g, data, "data")
    step_fn = compile(loss, updates=optimizer.updates(loss, params))
    missing = [k for k in step_fn.input_names if k not in feeds]
    if missing:
        raise KeyError(f"data has no array for input(s) {', '.join(map(repr, missing))}")
    val = None
    metrics = dict(metrics or {})
    if val_data is not None:
        vfeeds, vn = _feeds(g, val_data, "val_data")
        val_fn = compile([loss, *metrics.values()])
        val = (val_fn, vfeeds, vn)
    elif metrics:
        raise ValueError("metrics are computed on val_data; pass val_data too")

    rng = (seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed))
    per_epoch = (n // batch_size if drop_last else math.ceil(n / batch_size))
    if per_epoch == 0:
        raise ValueError(f"no batch to train on: {n} samples, batch_size {batch_size}, "
                         f"drop_last={drop_last}")
    hist = History(val_metrics={k: [] for k in metrics})
    bar = _progress(progress, epochs * per_epoch, desc or f"fit {g.name}")
    t0 = last_shown = time.perf_counter()
    step = 0
    try:
        for epoch in range(1, epochs + 1):
            total = 0.0
            seen = 0
            hist.lr.append(optimizer.lr)
            for b, (idx, size) in enumerate(_batches(n, batch_size,
                                                      rng if shuffle else None, drop_last)):
                step += 1
                value = float(step_fn(**{k: feeds[k][idx] for k in step_fn.input_names}))
                if not math.isfinite(value):
                    last = (f"; the last finite loss was {hist.step_loss[-1]:.6g} at step "
                            f"{step - 1}" if hist.step_loss else "")
                    raise NonFiniteLossError(
                        f"the loss became {value} at step {step} (epoch {epoch}/{epochs}, batch "
                        f"{b + 1}/{per_epoch}, lr {optimizer.lr:g}){last}. The parameters now "
                        "hold this step's (non-finite) update. Try a smaller learning rate, or "
                        "check the data for nan/inf.", step=step, epoch=epoch, loss=value)
                hist.step_loss.append(value)
                total += value * size
                seen += size
                if bar is not None:
                    bar.update(1)
                    now = time.perf_counter()
                    if now - last_shown > 0.1:
                        bar.set_postfix_str(f"epoch {epoch} loss {total / seen:.4g}",
                                            refresh=False)
                        last_shown = now
            hist.loss.append(total / seen)
            shown = f"epoch {epoch} loss {hist.loss[-1]:.4g}"
            if val is not None:
                vals = evaluate_batches(val[0], val[1], val[2], max(batch_size, 256))
                hist.val_loss.append(vals[0])
                shown += f" val {vals[0]:.4g}"
                for k, v in zip(metrics, vals[1:], strict=True):
                    hist.val_metrics[k].append(v)
                    shown += f" {k} {v:.4g}"
            if bar is not None:
                bar.set_postfix_str(shown, refresh=False)
            if on_epoch_end is not None and on_epoch_end(epoch, hist) is True:
                break
    finally:
        hist.seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return hist


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra: train silently without it
        return None
    return tqdm(total=total, desc=desc, unit="step", mininterval=0.1, dynamic_ncols=True)


# ------------------------------------------------------------------------------ checkpoints
Target = Graph | Module | Sequence[Tensor]


def _named(target: Target) -> tuple[Graph, list[str]]:
    if isinstance(target, Graph):
        return target, list(target.params)
    if isinstance(target, Module):
        if target.graph is None:
            target.named_parameters()  # raises the "no parameters yet" error
        return target.graph, list(target.named_parameters())
    ts = list(target)
    if not ts or not all(isinstance(t, Tensor) and t.node.role == "param" for t in ts):
        raise TypeError("save_params/load_params take a Graph, a Module or a list of params")
    return ts[0].graph, [ts[0].graph.own(t, "param").name for t in ts]


def save_params(target: Target, path: str | os.PathLike) -> list[str]:
    """Write the values of ``target``'s params (a Graph: all of them, optimiser state too;
    a Module or list: those) to an ``.npz`` file, keyed by param name. Returns the names."""
    g, names = _named(target)
    np.savez(path, **{k: g.params[k] for k in names})
    return names


def load_params(target: Target, path: str | os.PathLike, strict: bool = True) -> list[str]:
    """Copy values from an ``.npz`` written by ``save_params`` into ``target``'s params, in
    place (compiled functions see them). ``strict``: every param must be in the file and no
    extra; shapes must match always. Returns the names loaded."""
    g, names = _named(target)
    with np.load(path, allow_pickle=False) as f:
        stored = {k: f[k] for k in f.files}
    if strict:
        missing = [k for k in names if k not in stored]
        extra = [k for k in stored if k not in names]
        if missing or extra:
            raise ValueError(f"{os.fspath(path)}: params missing from the file: {missing}; "
                             f"in the file but not in the target: {extra}")
    loaded = []
    for k in names:
        if k not in stored:
            continue
        dst, src = g.params[k], stored[k]
        if dst.shape != src.shape:
            raise ValueError(f"{os.fspath(path)}: param {k!r} has shape {src.shape} in the "
                             f"file, {dst.shape} in the graph")
        np.copyto(dst, src, casting="same_kind")
        loaded.append(k)
    return loaded


__all__ = ["History", "NonFiniteLossError", "fit", "load_params", "save_params"]
