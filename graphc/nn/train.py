"""Training: ``fit`` (mini-batches, seeded shuffling, progress bar, validation) and
``save_params`` / ``load_params`` (``.npz``)."""

from __future__ import annotations

import dataclasses
import math
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphc.backend.base import Backend, get_backend
from graphc.backend.function import Function, compile
from graphc.errors import NonFiniteError, ShapeError
from graphc.ir.binding import bind, convert_input
from graphc.ir.graph import Graph
from graphc.ir.nxgraph import needed
from graphc.ir.tensor import Tensor
from graphc.nn.module import Module
from graphc.optim.base import Optimizer


class NonFiniteLossError(FloatingPointError):
    """The loss became nan or inf during ``fit``; ``.step`` (1-based), ``.epoch``, ``.loss``,
    and ``.history`` (what was measured up to the step before). That step committed nothing:
    the params and the optimiser state hold their values from before it."""

    def __init__(self, message: str, step: int, epoch: int, loss: float,
                 history: History | None = None):
        super().__init__(message)
        self.step, self.epoch, self.loss, self.history = step, epoch, loss, history


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
        if k in feeds:
            raise ValueError(f"{what}: input {k!r} is given twice (as a Tensor and by name)")
        feeds[k] = v if _lazy(v) else np.asarray(v)
    sizes = {k: (a.shape[0] if a.ndim else None) for k, a in feeds.items()}
    n = set(sizes.values())
    if len(n) != 1 or None in n:
        raise ValueError(f"{what}: every array needs the same number of samples along axis 0, "
                         f"got {sizes}")
    return feeds, n.pop()


def _lazy(v: Any) -> bool:
    """A dask array (a dask collection with a shape): batches are sliced from it lazily."""
    return hasattr(v, "__dask_graph__") and hasattr(v, "shape") and hasattr(v, "dtype")


def _needs(feeds: Mapping[str, np.ndarray], names: Sequence[str], what: str) -> None:
    missing = [k for k in names if k not in feeds]
    if missing:
        raise KeyError(f"{what} has no array for input(s) {', '.join(map(repr, missing))}")


def _count(v: Any, what: str, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {v!r}")
    if v < least:
        raise ValueError(f"{what} must be >= {least}, got {v}")
    return int(v)


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


#: fit's compiled functions per optimiser (which is bound to one graph), so that fitting
#: again neither recompiles nor adds another copy of the update graph
_COMPILED: weakref.WeakKeyDictionary[Optimizer, dict[tuple, Function]] = (
    weakref.WeakKeyDictionary())


def _compiled(optimizer: Optimizer, key: tuple, make: Callable[[], Function]) -> Function:
    cache = _COMPILED.setdefault(optimizer, {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def fit(loss: Tensor, optimizer: Optimizer, data: Data, *, epochs: int = 1,
        batch_size: int = 32, params: Sequence[Tensor] | None = None,
        val_data: Data | None = None, metrics: Mapping[str, Tensor] | None = None,
        shuffle: bool = True, seed: int | np.random.Generator | None = 0,
        drop_last: bool = False, progress: bool = True, desc: str | None = None,
        on_epoch_end: Callable[[int, History], Any] | None = None,
        on_step_end: Callable[[int, History], Any] | None = None,
        backend: str | Backend = "numpy", client: Any = None) -> History:
    """Train: compile forward + backward + ``optimizer``'s update into one step, run it.

    ``data`` maps inputs (Tensors or names) to arrays with the samples along axis 0. Each
    epoch visits them in batches of ``batch_size`` (the last one smaller unless
    ``drop_last``), in an order shuffled by ``np.random.default_rng(seed)``: the same seed
    gives the same result. ``val_data`` is evaluated after every epoch with the loss and
    ``metrics`` ({name: scalar Tensor}). ``on_epoch_end(epoch, history)`` may change
    ``optimizer.lr`` (no recompilation) or return True to stop; ``on_step_end(step,
    history)`` is called after every step (``step`` counts from 1 over this fit, the step's
    loss is ``history.step_loss[-1]``) and may change ``optimizer.lr`` too (a per-step
    schedule: ``on_step_end=gc.optim.CosineAnnealingLR(...)``); its return value is
    ignored. A tqdm bar shows the loss.
    The compiled step is kept per (optimizer, loss, params): fitting again reuses it.

    ``backend`` compiles the step (and the validation) as ``gc.compile``'s does;
    ``backend="dask"`` with ``client=`` a ``distributed.Client`` trains data-parallel on
    that cluster: each step's loss and gradients are computed there, chunked along the
    batch, and the update is committed here after the step's computation ends. ``data`` may
    then hold dask arrays (a dataset larger than this process's memory): each batch is
    sliced from them lazily.

    Raises ``NonFiniteLossError`` naming the step when the loss is nan or inf; that step
    commits nothing, so the params and the optimiser state hold their values from before it.
    Bad arguments raise before anything changes.
    """
    backend = _fit_backend(backend, client)
    epochs, batch_size, params, metrics = _fit_arguments(loss, optimizer, epochs, batch_size,
                                                         params, metrics, val_data, on_epoch_end,
                                                         on_step_end)
    g = loss.graph
    feeds, n, val_feeds = _fit_data(g, loss, metrics, data, val_data)
    per_epoch = _batches_per_epoch(n, batch_size, drop_last)
    rng = (seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed))
    step_fn = _step_function(optimizer, loss, params, backend)
    val = None
    if val_feeds is not None:
        val = (_eval_function(optimizer, loss, metrics, backend), *val_feeds)
    hist = History(val_metrics={k: [] for k in metrics})
    bar = _progress(progress, epochs * per_epoch, desc or f"fit {g.name}")
    loop = _Loop(step_fn, optimizer, feeds, n, batch_size, rng if shuffle else None, drop_last,
                 epochs, per_epoch, val, list(metrics), hist, bar, on_step_end)
    t0 = loop.last_shown = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            loop.run_epoch(epoch)
            if on_epoch_end is not None and on_epoch_end(epoch, hist) in (True, np.True_):
                break
    finally:
        hist.seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return hist


def _fit_backend(backend: str | Backend, client: Any) -> str | Backend:
    """fit's backend: ``backend`` (a name or a Backend), on ``client`` when one is given
    (only a backend with ``with_client``, the Dask backend, takes one)."""
    chosen = get_backend(backend)  # an unknown name raises here
    if client is None:
        return backend
    if not hasattr(chosen, "with_client"):
        raise TypeError(f"client= is for backend='dask'; backend {chosen.name!r} runs here")
    return chosen.with_client(client)


def _fit_arguments(loss: Any, optimizer: Any, epochs: Any, batch_size: Any,
                   params: Sequence[Tensor] | None, metrics: Mapping[str, Tensor] | None,
                   val_data: Data | None, on_epoch_end: Any = None, on_step_end: Any = None
                   ) -> tuple[int, int, list[Tensor], dict[str, Tensor]]:
    """fit's arguments checked: (epochs, batch_size, the params to train, the metrics)."""
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        raise TypeError(f"fit needs a scalar loss Tensor, got {loss!r}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit needs a gc.optim optimiser, got {type(optimizer).__name__}")
    epochs = _count(epochs, "epochs", 0)
    batch_size = _count(batch_size, "batch_size", 1)
    g = loss.graph
    if optimizer.graph is not None and optimizer.graph is not g:
        optimizer.updates(loss)  # raises the "bound to graph" error
    params = optimizer.check_params(g, params)
    metrics = dict(metrics or {})
    for k, m in metrics.items():
        g.own(m, f"metrics[{k!r}]")
        if m.ndim != 0:
            raise ShapeError(f"metrics[{k!r}] must be a scalar Tensor, got shape {m.shape}")
    if metrics and val_data is None:
        raise ValueError("metrics are computed on val_data; pass val_data too")
    for what, hook in (("on_epoch_end", on_epoch_end), ("on_step_end", on_step_end)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{what} must be callable, got {type(hook).__name__}")
    return epochs, batch_size, params, metrics


def _fit_data(g: Graph, loss: Tensor, metrics: dict[str, Tensor], data: Data,
              val_data: Data | None
              ) -> tuple[dict[str, np.ndarray], int, tuple[dict[str, np.ndarray], int] | None]:
    """The training feeds and their sample count, and the validation ones (or None)."""
    feeds, n = _feeds(g, data, "data")
    _needs(feeds, _input_names(g, [loss]), "data")
    _check_arrays(g, feeds, "data")
    if val_data is None:
        return feeds, n, None
    vfeeds, vn = _feeds(g, val_data, "val_data")
    _needs(vfeeds, _input_names(g, [loss, *metrics.values()]), "val_data")
    _check_arrays(g, vfeeds, "val_data")
    return feeds, n, (vfeeds, vn)


def _check_arrays(g: Graph, feeds: Mapping[str, np.ndarray], what: str) -> None:
    """Every array fits its input (dtype, rank, fixed dims, symbols bound consistently), as
    a step would check it, but before the first step trains."""
    nodes = [g.inputs[k].node for k in feeds]
    try:
        for node, arr in zip(nodes, feeds.values()):
            # the dtype rules, on one sample (of a dask array: its dtype, on no data)
            convert_input(node, np.empty((0,) + arr.shape[1:], arr.dtype) if _lazy(arr)
                          else arr[:1])
        bind(nodes, list(feeds.values()))  # (shapes only)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}") from None


def _batches_per_epoch(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches an epoch has (ValueError when none)."""
    per_epoch = (n // batch_size if drop_last else math.ceil(n / batch_size))
    if per_epoch == 0:
        raise ValueError(f"no batch to train on: {n} samples, batch_size {batch_size}, "
                         f"drop_last={drop_last}")
    return per_epoch


def _backend_key(backend: str | Backend) -> Any:
    """A backend's name, or its class and options (a client by identity: the cached
    function holds it, so the identity is not reused while the key is)."""
    if isinstance(backend, str):
        return backend
    return (type(backend).__name__, *sorted(
        (k, v if isinstance(v, (str, int, float, bool, type(None))) else id(v))
        for k, v in vars(backend).items()))


def _step_function(optimizer: Optimizer, loss: Tensor, params: list[Tensor],
                   backend: str | Backend = "numpy") -> Function:
    """The compiled training step (kept per optimizer, loss, params, optimizer config and
    backend)."""
    # the step raises before its commit when the loss is not finite (check_finite="outputs")
    return _compiled(optimizer, ("step", loss.id, tuple(p.id for p in params),
                                 optimizer.config(), _backend_key(backend)),
                     lambda: compile(loss, updates=optimizer.updates(loss, params),
                                     check_finite="outputs", backend=backend))


def _eval_function(optimizer: Optimizer, loss: Tensor, metrics: dict[str, Tensor],
                   backend: str | Backend = "numpy") -> Function:
    """The compiled validation: the loss and the metrics (state updates, such as BatchNorm's
    running statistics, are left out: validating changes nothing)."""
    return _compiled(optimizer, ("eval", loss.id, *(m.id for m in metrics.values()),
                                 _backend_key(backend)),
                     lambda: compile([loss, *metrics.values()], state_updates=False,
                                     backend=backend))


@dataclasses.dataclass
class _Loop:
    """The training loop of one ``fit``: what each epoch runs and where it records it."""

    step_fn: Function
    optimizer: Optimizer
    feeds: dict[str, np.ndarray]
    n: int
    batch_size: int
    #: shuffles the batches; None: in order
    rng: np.random.Generator | None
    drop_last: bool
    epochs: int
    per_epoch: int
    #: (compiled loss and metrics, feeds, sample count) of val_data, or None
    val: tuple[Function, dict[str, np.ndarray], int] | None
    metrics: list[str]
    hist: History
    bar: Any
    #: fit's on_step_end(step, history), or None
    on_step_end: Callable[[int, History], Any] | None = None
    step: int = 0
    last_shown: float = 0.0

    def run_epoch(self, epoch: int) -> None:
        """One pass over the data in batches, then the validation."""
        total = 0.0
        seen = 0
        self.hist.lr.append(self.optimizer.lr)
        for b, (idx, size) in enumerate(_batches(self.n, self.batch_size, self.rng,
                                                 self.drop_last)):
            value = self.train_step(epoch, b, idx)
            total += value * size
            seen += size
            self.advance_bar(epoch, total, seen)
            if self.on_step_end is not None:
                self.on_step_end(self.step, self.hist)
        self.hist.loss.append(total / seen)
        shown = f"epoch {epoch} loss {self.hist.loss[-1]:.4g}" + self.validate()
        if self.bar is not None:
            self.bar.set_postfix_str(shown, refresh=False)

    def train_step(self, epoch: int, b: int, idx: Any) -> float:
        """Run the step on batch ``b`` (rows ``idx``); its loss, or NonFiniteLossError."""
        self.step += 1
        hist, step = self.hist, self.step
        try:
            value = float(self.step_fn(**{k: self.feeds[k][idx]
                                          for k in self.step_fn.input_names}))
        except NonFiniteError as e:
            what, value = self.what_failed(e)
            last = (f"; the last finite loss was {hist.step_loss[-1]:.6g} at step "
                    f"{step - 1}" if hist.step_loss else "")
            raise NonFiniteLossError(
                f"{what} at step {step} (epoch {epoch}/{self.epochs}, batch "
                f"{b + 1}/{self.per_epoch}, lr {self.optimizer.lr:g}){last}. This step was not "
                "applied: the params hold their values from before it. Try a smaller "
                "learning rate, or check the data for nan/inf.",
                step=step, epoch=epoch, loss=value, history=hist) from None
        hist.step_loss.append(value)
        return value

    @staticmethod
    def what_failed(e: NonFiniteError) -> tuple[str, float]:
        """``the loss became nan`` or, for a finite loss with a non-finite gradient, which
        value an update is made of became nan/inf; and the loss value (nan if unknown)."""
        v = np.asarray(e.value)
        if v.ndim == 0:
            return f"the loss became {float(v)}", float(v)
        bad = v[~np.isfinite(v)].flat[0]
        head = str(e).splitlines()[0]
        return f"a value an update is made of became {bad} ({head}) though the loss was " \
               "finite", float("nan")

    def advance_bar(self, epoch: int, total: float, seen: int) -> None:
        """One step on the progress bar; the running loss shown at most every 0.1 s."""
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last_shown > 0.1:
            self.bar.set_postfix_str(f"epoch {epoch} loss {total / seen:.4g}", refresh=False)
            self.last_shown = now

    def validate(self) -> str:
        """Evaluate val_data (if any) into the history; the text it adds to the bar."""
        if self.val is None:
            return ""
        fn, feeds, n = self.val
        vals = evaluate_batches(fn, feeds, n, max(self.batch_size, 256))
        self.hist.val_loss.append(vals[0])
        shown = f" val {vals[0]:.4g}"
        for k, v in zip(self.metrics, vals[1:], strict=True):
            self.hist.val_metrics[k].append(v)
            shown += f" {k} {v:.4g}"
        return shown


def _input_names(g: Graph, outputs: Sequence[Tensor]) -> list[str]:
    """The graph inputs that ``outputs`` depend on."""
    return [g.node(i).name for i in needed(g, [t.id for t in outputs])
            if g.node(i).role == "input"]


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
    a Module or list: those) to an ``.npz`` file, keyed by param name (numpy adds the
    ``.npz`` suffix when ``path`` lacks it; ``load_params`` finds it). Returns the names."""
    g, names = _named(target)
    np.savez(path, **{k: g.params[k] for k in names})
    return names


Rename = Mapping[str, str] | Callable[[str], str]


def load_params(target: Target, path: str | os.PathLike, strict: bool = True,
                rename: Rename | None = None) -> list[str]:
    """Copy values from an ``.npz`` written by ``save_params`` into ``target``'s params, in
    place (compiled functions see them). ``strict``: every param must be in the file and no
    extra; shapes must match always. Everything is checked before anything is copied: a
    failed load changes no param. Returns the names loaded.

    ``rename`` maps the file's names to the target's before matching: a dict
    ``{old: new}`` whose keys are names or scopes (``{"net/linear_1": "net/head"}`` renames
    ``net/linear_1/W`` and ``net/linear_1/b``), or a function ``old -> new``. Checkpoints
    saved before sub-modules were named by attribute (``net/linear_1/W``, now
    ``net/head/W``) load this way; a strict load's error lists the names on both sides.
    """
    g, names = _named(target)
    path, stored = _read_npz(path)
    if rename is not None:
        stored = _renamed(stored, rename, path)
    _check_stored(path, g, names, stored, strict)
    loaded = [k for k in names if k in stored]
    for k in loaded:
        np.copyto(g.params[k], stored[k], casting="same_kind")
    return loaded


def _read_npz(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """The file's path (``.npz`` added where numpy added it) and its arrays by name."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # np.savez added the suffix
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not an .npz file written by save_params ({e})") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds one array, not an .npz file written by save_params")
    with f:
        return path, {k: f[k] for k in f.files}


def _renamed(stored: dict[str, np.ndarray], rename: Rename, path: str
             ) -> dict[str, np.ndarray]:
    """``stored`` under the names ``rename`` gives (see load_params)."""
    if isinstance(rename, Mapping):
        fn = _scope_renamer(rename, list(stored), path)
    elif callable(rename):
        fn = rename
    else:
        raise TypeError(f"rename must be a dict {{old: new}} or a function old -> new, got "
                        f"{type(rename).__name__}")
    out: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for k, v in stored.items():
        new = fn(k)
        if not isinstance(new, str) or not new:
            raise TypeError(f"rename gave {new!r} for {k!r}; it must give a non-empty name")
        if new in out:
            raise ValueError(f"{path}: rename maps {source[new]!r} and {k!r} both to {new!r}")
        out[new], source[new] = v, k
    return out


def _scope_renamer(rename: Mapping[str, str], names: list[str], path: str
                   ) -> Callable[[str], str]:
    """old -> new for a dict of names or scopes, the longest matching scope first."""
    def under(k: str, old: str) -> bool:
        return k == old or k.startswith(old + "/")

    unused = [old for old in rename if not any(under(k, old) for k in names)]
    if unused:
        raise ValueError(f"{path}: rename: no param in the file is {_listed(unused)} or under "
                         f"it (the file has {_listed(names)})")

    def fn(k: str) -> str:
        old = max((o for o in rename if under(k, o)), key=len, default=None)
        return k if old is None else rename[old] + k[len(old):]

    return fn


def _check_stored(path: str, g: Graph, names: list[str], stored: dict[str, np.ndarray],
                  strict: bool) -> None:
    """Raise, naming every mismatch, unless ``stored`` can be loaded into ``names``."""
    problems = []
    if strict:
        wanted = set(names)
        missing = [k for k in names if k not in stored]
        extra = [k for k in stored if k not in wanted]
        if missing:
            problems.append(f"params missing from the file: {_listed(missing)}")
        if extra:
            problems.append(f"in the file but not in the target: {_listed(extra)}")
        if missing and extra:
            problems.append("if only the names differ, load with rename={old: new}, e.g. a "
                            "checkpoint whose sub-modules were named after their class "
                            "(net/linear_1/W, now net/head/W); strict=False loads the common "
                            "ones")
    problems += [f"param {k!r} has shape {stored[k].shape} in the file, "
                 f"{g.params[k].shape} in the graph"
                 for k in names if k in stored and stored[k].shape != g.params[k].shape]
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    for k in names:
        if k in stored and not np.can_cast(stored[k].dtype, g.params[k].dtype, "same_kind"):
            raise TypeError(f"{path}: param {k!r} is {stored[k].dtype} in the file, "
                            f"{g.params[k].dtype} in the graph")


def _listed(names: Sequence[str], most: int = 12) -> str:
    """``'a', 'b', ... (N more)``."""
    shown = ", ".join(map(repr, names[:most]))
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


__all__ = ["History", "NonFiniteLossError", "fit", "load_params", "save_params"]
