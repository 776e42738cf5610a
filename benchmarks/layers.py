#!/usr/bin/env python3
"""graphc benchmarks, layers: one training step of a conv net and of an attention block,
graphc's compiled step against PyTorch eager on the CPU. Prints markdown tables; asserts
nothing.

Workloads (issue 15), each in float64 and float32:

- ``attention``: a pre-norm transformer block on x (B, T, E) = (16, 64, 64), 4 heads:
  ``h = x + MHA(LN1(x))`` (causal), ``y = h + MLP(LN2(h))`` with the MLP E -> 4E -> E relu,
  MSE loss to a fixed target. graphc: ``gc.nn.LayerNorm``, ``gc.nn.MultiHeadAttention(E, 4,
  causal=True)``, ``gc.nn.Linear``; torch: ``nn.LayerNorm``, ``nn.MultiheadAttention(E, 4,
  batch_first=True)`` called with a causal mask and ``need_weights=False`` (torch's
  scaled-dot-product-attention path), ``nn.Linear``.
- ``conv``: the digits CNN at B = 64 on x (64, 1, 8, 8) (scikit-learn's digits when it is
  installed, else random pixels): conv 1->16 3x3 pad 1, relu, max-pool 2; conv 16->32 3x3
  pad 1, relu, max-pool 2; flatten; linear 128->10; cross-entropy with integer labels.
  graphc: ``gc.conv2d``, ``gc.max_pool2d`` (torch.nn.functional's signatures); torch: the
  same calls in ``torch.nn.functional``.

A step is forward + backward (gradients of every param) + an SGD update (lr 0.01): graphc's
is one function, ``gc.compile(loss, updates=gc.optim.SGD(0.01).updates(loss))``; torch's is
``loss.backward()`` then one ``torch._foreach_add_(params, grads, alpha=-lr)`` (the cheapest
eager update). Torch gets graphc's initial weights, so both compute the same numbers: the
loss and every gradient at the initial params, the losses of 3 steps and the params after
them are checked against each other (relative max-abs error 1e-10 in float64, 1e-4 in
float32) before anything is timed; a failing pair is reported and not timed. The two
implementations of a configuration are timed interleaved, round-robin, in one process
(the garbage collector off); the tables give medians, the best round, the ratio
graphc / torch of the medians and the range of the per-round ratios (how noisy it was).

Threads: by default the script measures with the libraries' default threads (numpy's BLAS
and torch's intra-op pool), then runs itself again with ``--threads 1``, which sets
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` to 1 before numpy and
torch are imported and calls ``torch.set_num_threads(1)``.

Run: ``python benchmarks/layers.py`` (about 2 minutes on 2 cores) or ``--quick`` (20 s);
``--profile`` prints where graphc's steps spend their time (per generated line, i.e.
per graph node, and cProfile's top functions) instead of timing.
"""

from __future__ import annotations

import os
import sys


def _early_threads() -> str | None:
    """``--threads N`` must act before numpy (its BLAS) and torch are imported."""
    argv = sys.argv[1:]
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return None


_THREADS = _early_threads()
if _THREADS not in (None, "default"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _THREADS

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc as pygc  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

import graphc as gc  # noqa: E402

LR = 0.01


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def fmt_time(s: float) -> str:
    """µs below 10 ms, else ms."""
    us = s * 1e6
    if us >= 10_000:
        return f"{us / 1000:.1f} ms"
    return f"{us:,.0f} µs" if us >= 100 else f"{us:.1f} µs"


# ================================================================================ graphc
class GraphcStep:
    """A compiled graphc step; subclasses build ``self.loss`` over inputs ``self.ins`` and
    list the params in ``self.order`` (the order shared with the torch peer)."""

    name = "graphc"
    #: what gc.compile gets as backend= ("numpy", "numba" or "numba-fast", set by --backend)
    backend = "numpy"

    def _compile(self, loss, ins, order) -> None:
        self.loss, self.ins, self.order = loss, ins, order
        updates = gc.optim.SGD(LR).updates(loss)
        backend = self.backend
        if backend == "numba-fast":
            from graphc.backend.numba import NumbaBackend

            backend = NumbaBackend(fast_math=True)
        t0 = time.perf_counter()
        self.f = gc.compile(loss, ins, updates=updates, backend=backend)
        self.compile_s = time.perf_counter() - t0
        self.f_grads = gc.compile([loss, *gc.grad(loss, order)], ins, backend=backend)
        self._loss = None

    def initial(self) -> list[np.ndarray]:
        return [self.graph.params[p.name].copy() for p in self.order]

    def step(self) -> None:
        self._loss = self.f(*self.data)

    def sync(self) -> None:
        pass

    def last_loss(self) -> float:
        return float(self._loss)

    def params(self) -> list[np.ndarray]:
        return [self.graph.params[p.name].copy() for p in self.order]

    def loss_and_grads(self):
        loss, *grads = self.f_grads(*self.data)
        return float(loss), grads


class GraphcAttention(GraphcStep):
    def __init__(self, dtype, B=16, T=64, E=64, heads=4, seed=0):
        rng = np.random.default_rng(seed)
        self.graph = g = gc.Graph("block")
        x = g.input("x", ("B", "T", E), dtype)
        target = g.input("target", ("B", "T", E), dtype)
        self.ln1, self.ln2 = gc.nn.LayerNorm(E, name="ln1"), gc.nn.LayerNorm(E, name="ln2")
        self.mha = gc.nn.MultiHeadAttention(E, heads, causal=True, name="attn", rng=seed)
        self.fc1 = gc.nn.Linear(E, 4 * E, name="fc1", rng=seed + 1)
        self.fc2 = gc.nn.Linear(4 * E, E, name="fc2", rng=seed + 2)
        h = x + self.mha(self.ln1(x))
        y = h + self.fc2(gc.relu(self.fc1(self.ln2(h))))
        loss = gc.nn.mse_loss(y, target)
        # LayerNorm's weight/bias start at 1/0 and the biases at 0: perturb them so that a
        # swapped or transposed copy into torch cannot pass the check
        for ln in (self.ln1, self.ln2):
            g.params[ln.weight.name][...] += rng.uniform(-0.2, 0.2, E)
            g.params[ln.beta.name][...] += rng.uniform(-0.2, 0.2, E)
        for t in (self.mha.params["in_proj_bias"], self.mha.params["out_proj_bias"],
                  self.fc1.b, self.fc2.b):
            g.params[t.name][...] += rng.uniform(-0.1, 0.1, g.params[t.name].shape)
        order = [self.ln1.weight, self.ln1.beta, self.mha.params["in_proj_weight"],
                 self.mha.params["in_proj_bias"], self.mha.params["out_proj_weight"],
                 self.mha.params["out_proj_bias"], self.ln2.weight, self.ln2.beta,
                 self.fc1.W, self.fc1.b, self.fc2.W, self.fc2.b]
        self._compile(loss, [x, target], order)
        X = rng.standard_normal((B, T, E)).astype(dtype)
        Y = rng.standard_normal((B, T, E)).astype(dtype)
        self.data = (X, Y)


def digits(B: int, dtype, seed: int = 0):
    """The first B images of scikit-learn's digits (8x8, scaled to [0, 1]) and labels; random
    pixels and labels when scikit-learn is missing (the timing does not depend on them)."""
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y = d.images[:B] / 16.0, d.target[:B]
        source = "scikit-learn digits"
    except ImportError:
        rng = np.random.default_rng(seed)
        X, y = rng.uniform(0, 1, (B, 8, 8)), rng.integers(0, 10, B)
        source = "random pixels (scikit-learn not installed)"
    return X[:, None].astype(dtype), y.astype(np.int64), source


def _uniform(rng, shape, fan_in, dtype):
    """torch's default conv/linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    b = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-b, b, shape).astype(dtype)


class GraphcConv(GraphcStep):
    def __init__(self, dtype, B=64, seed=0):
        rng = np.random.default_rng(seed)
        self.graph = g = gc.Graph("cnn")
        x = g.input("x", ("B", 1, 8, 8), dtype)
        labels = g.input("labels", ("B",), np.int64)
        w1 = g.param("conv1/weight", _uniform(rng, (16, 1, 3, 3), 9, dtype))
        b1 = g.param("conv1/bias", _uniform(rng, (16,), 9, dtype))
        w2 = g.param("conv2/weight", _uniform(rng, (32, 16, 3, 3), 144, dtype))
        b2 = g.param("conv2/bias", _uniform(rng, (32,), 144, dtype))
        W = g.param("fc/W", _uniform(rng, (128, 10), 128, dtype))  # x @ W + b
        b = g.param("fc/b", _uniform(rng, (10,), 128, dtype))
        h = gc.max_pool2d(gc.relu(gc.conv2d(x, w1, b1, 1, 1)), 2)
        h = gc.max_pool2d(gc.relu(gc.conv2d(h, w2, b2, 1, 1)), 2)
        h = gc.reshape(h, (x.shape[0], -1))
        loss = gc.nn.cross_entropy(h @ W + b, labels)
        self._compile(loss, [x, labels], [w1, b1, w2, b2, W, b])
        X, y, self.source = digits(B, dtype, seed)
        self.data = (X, y)


# ================================================================================= torch
class TorchStep:
    """Torch eager: ``self.loss_fn()`` builds the loss from ``self.P`` (torch tensors of the
    graphc params in ``order``, each transposed where ``self.transposed`` says)."""

    name = "torch"

    def __init__(self, gstep: GraphcStep, transposed=()):
        import torch

        self.torch = torch
        self.transposed = set(transposed)
        self.P = [torch.tensor(v.T.copy() if k in self.transposed else v.copy())
                  .requires_grad_() for k, v in enumerate(gstep.initial())]
        self._loss = None

    def _grads(self) -> list:
        return [p.grad for p in self.P]

    def step(self) -> None:
        loss = self.loss_fn()
        loss.backward()
        torch = self.torch
        with torch.no_grad():
            torch._foreach_add_(self.P, self._grads(), alpha=-LR)
        for p in self.P:
            p.grad = None
        self._loss = loss

    def sync(self) -> None:
        pass

    def last_loss(self) -> float:
        return float(self._loss.detach())

    def _back(self, k, t):
        a = t.detach().numpy()
        return a.T.copy() if k in self.transposed else a.copy()

    def params(self) -> list[np.ndarray]:
        return [self._back(k, p) for k, p in enumerate(self.P)]

    def loss_and_grads(self):
        loss = self.loss_fn()
        loss.backward()
        grads = [self._back(k, p.grad) for k, p in enumerate(self.P)]
        for p in self.P:
            p.grad = None
        return float(loss.detach()), grads


class TorchAttention(TorchStep):
    """The block with torch's own modules, their parameters set to graphc's values."""

    def __init__(self, gstep: GraphcAttention):
        import torch
        from torch import nn

        super().__init__(gstep, transposed=(8, 10))  # Linear weights are (out, in) in torch
        X, Y = gstep.data
        B, T, E = X.shape
        heads = gstep.mha.num_heads
        self.ln1, self.ln2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.mha = nn.MultiheadAttention(E, heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(E, 4 * E), nn.Linear(4 * E, E)
        dt = torch.float64 if X.dtype == np.float64 else torch.float32
        mods = nn.ModuleList([self.ln1, self.mha, self.ln2, self.fc1, self.fc2]).to(dt)
        slots = [(self.ln1, "weight"), (self.ln1, "bias"), (self.mha, "in_proj_weight"),
                 (self.mha, "in_proj_bias"), (self.mha.out_proj, "weight"),
                 (self.mha.out_proj, "bias"), (self.ln2, "weight"), (self.ln2, "bias"),
                 (self.fc1, "weight"), (self.fc1, "bias"), (self.fc2, "weight"),
                 (self.fc2, "bias")]
        for (mod, attr), p in zip(slots, self.P, strict=True):
            setattr(mod, attr, nn.Parameter(p))
        self.P = [getattr(mod, attr) for mod, attr in slots]
        assert len(list(mods.parameters())) == len(self.P)
        self.X, self.Y = torch.tensor(X), torch.tensor(Y)
        self.mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True: not attended
        self.F = torch.nn.functional

    def loss_fn(self):
        x = self.X
        a = self.ln1(x)
        h = x + self.mha(a, a, a, attn_mask=self.mask, need_weights=False, is_causal=True)[0]
        y = h + self.fc2(self.F.relu(self.fc1(self.ln2(h))))
        return self.F.mse_loss(y, self.Y)


class TorchConv(TorchStep):
    def __init__(self, gstep: GraphcConv):
        import torch

        super().__init__(gstep, transposed=(4,))  # F.linear takes the (10, 128) weight
        X, y = gstep.data
        self.X, self.y = torch.tensor(X), torch.tensor(y)
        self.F = torch.nn.functional

    def loss_fn(self):
        F = self.F
        w1, b1, w2, b2, W, b = self.P
        h = F.max_pool2d(F.relu(F.conv2d(self.X, w1, b1, 1, 1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, 1, 1)), 2)
        return F.cross_entropy(F.linear(h.flatten(1), W, b), self.y)


WORKLOADS = {
    "attention": (GraphcAttention, TorchAttention,
                  "pre-norm block B=16 T=64 E=64, 4 heads, causal"),
    "conv": (GraphcConv, TorchConv, "digits CNN B=64 (2 conv + 2 max-pool + linear)"),
}


# ================================================================================ checks
def verify(a, b, tol) -> str | None:
    """None when ``a`` and ``b`` agree (loss, gradients, 3 steps, params), else why not."""
    (la, ga), (lb, gb) = a.loss_and_grads(), b.loss_and_grads()
    if rel_err(la, lb) > tol:
        return f"loss {la!r} vs {lb!r}"
    for k, (x, y) in enumerate(zip(ga, gb, strict=True)):
        if rel_err(x, y) > tol:
            return f"gradient of param {k}: rel err {rel_err(x, y):.2e}"
    worst = 0.0
    for k in range(3):
        a.step()
        b.step()
        e = rel_err(a.last_loss(), b.last_loss())
        worst = max(worst, e)
        if e > tol:
            return f"step {k} loss {a.last_loss()!r} vs {b.last_loss()!r}"
    for k, (x, y) in enumerate(zip(a.params(), b.params(), strict=True)):
        if rel_err(x, y) > tol:
            return f"param {k} after 3 steps: rel err {rel_err(x, y):.2e}"
    a.worst_err = worst
    return None


# ================================================================================ timing
def time_steps(impl, n: int) -> float:
    step = impl.step
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    impl.sync()
    return (time.perf_counter() - t0) / n


def measure(impls, rounds: int, target: float) -> dict[str, list[float]]:
    """Per-step seconds of each impl, one sample per round, rounds interleaved."""
    n_iter = {}
    for impl in impls:  # calibrate: ~target seconds per measurement
        n = 1
        while True:
            t = time_steps(impl, n) * n
            if t > target / 4 or n > 1 << 14:
                break
            n *= 4
        n_iter[impl.name] = max(1, int(n * target / max(t, 1e-9)))
    samples: dict[str, list[float]] = {impl.name: [] for impl in impls}
    pygc.disable()
    try:
        for r in range(rounds):
            order = impls[r % len(impls):] + impls[:r % len(impls)]
            for impl in order:
                time_steps(impl, 1)
                samples[impl.name].append(time_steps(impl, n_iter[impl.name]))
    finally:
        pygc.enable()
    return samples


def quartiles(xs) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[1], q[2]


def iqr(xs) -> float:
    """The interquartile range relative to the median: the round-to-round noise."""
    q1, med, q3 = quartiles(xs)
    return (q3 - q1) / med


def bench(args) -> list[dict]:
    import torch

    if args.threads not in (None, "default"):
        torch.set_num_threads(int(args.threads))
    rows = []
    for wl in args.workloads.split(","):
        gcls, tcls, what = WORKLOADS[wl]
        for dtype in args.dtypes.split(","):
            dt = np.dtype(dtype).type
            tol = 1e-10 if dt == np.float64 else 1e-4
            gs = gcls(dt)
            ts = tcls(gs)
            bad = verify(gs, ts, tol)
            if bad:
                print(f"  {wl} {dtype}: graphc and torch DISAGREE ({bad}); not timed",
                      flush=True)
                continue
            samples = measure([gs, ts], args.rounds, args.target)
            g_s, t_s = samples["graphc"], samples["torch"]
            per_round = [a / b for a, b in zip(g_s, t_s, strict=True)]
            q_r = quartiles(per_round)
            row = {"workload": wl, "what": what, "dtype": dtype,
                   "graphc": statistics.median(g_s), "torch": statistics.median(t_s),
                   "graphc_min": min(g_s), "torch_min": min(t_s),
                   "ratio": statistics.median(g_s) / statistics.median(t_s),
                   "ratio_q": (q_r[0], q_r[2]), "ratio_range": (min(per_round), max(per_round)),
                   "spread_g": iqr(g_s), "spread_t": iqr(t_s),
                   "err": gs.worst_err, "compile_s": gs.compile_s}
            print(f"  {wl} {dtype}: graphc {fmt_time(row['graphc'])}, torch "
                  f"{fmt_time(row['torch'])}, graphc/torch {row['ratio']:.2f} (per-round "
                  f"{min(per_round):.2f}-{max(per_round):.2f}); checked, loss rel err "
                  f"{gs.worst_err:.1e}", flush=True)
            rows.append(row)
    return rows


def print_table(rows, threads_label: str) -> None:
    print(f"\n### One training step, {threads_label}: median per step\n")
    print("| workload | dtype | graphc | torch eager | graphc / torch | per-round ratio "
          "IQR (min-max) | best rounds (ratio) | noise graphc / torch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        (q1, q3), (lo, hi) = r["ratio_q"], r["ratio_range"]
        print(f"| {r['workload']} | {r['dtype']} | {fmt_time(r['graphc'])} | "
              f"{fmt_time(r['torch'])} | {r['ratio']:.2f}x | {q1:.2f}-{q3:.2f} "
              f"({lo:.2f}-{hi:.2f}) | {fmt_time(r['graphc_min'])} / "
              f"{fmt_time(r['torch_min'])} ({r['graphc_min'] / r['torch_min']:.2f}x) | "
              f"{r['spread_g']:.0%} / {r['spread_t']:.0%} |")
    print("\nper-round ratio: graphc / torch within one round (the two measured back to back), "
          "interquartile range and min-max; noise: interquartile range / median of the "
          "rounds.")
    if rows:
        print("compile time (graphc, one gc.compile of the step): " + ", ".join(
            f"{r['workload']} {r['dtype']} {r['compile_s']:.2f} s" for r in rows))


# =============================================================================== profile
def line_profile(fn, call, n: int) -> list[tuple[float, int, object]]:
    """Seconds spent on each line of a compiled graphc function's generated code (the time
    from a line's start to the next line event of that frame), over ``n`` calls."""
    filename = fn._filename
    spent: dict[int, float] = defaultdict(float)
    state = {"line": None, "t": 0.0}

    def local(frame, event, arg):
        now = time.perf_counter()
        if state["line"] is not None:
            spent[state["line"]] += now - state["t"]
        state["line"] = frame.f_lineno if event == "line" else None
        state["t"] = time.perf_counter()
        return local

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == filename:
            state["line"] = None
            return local
        return None

    sys.settrace(tracer)
    try:
        for _ in range(n):
            call()
    finally:
        sys.settrace(None)
    nodes = fn._line_nodes
    return sorted(((t / n, ln, nodes.get(ln)) for ln, t in spent.items()),
                  key=lambda r: -r[0])


def profile(args) -> None:
    for wl in args.workloads.split(","):
        gcls, _, what = WORKLOADS[wl]
        for dtype in args.dtypes.split(","):
            gs = gcls(np.dtype(dtype).type)
            for _ in range(20):
                gs.step()
            n = 200 if wl == "conv" else 50
            t_plain = time_steps(gs, n)
            rows = line_profile(gs.f, gs.step, n)
            total = sum(r[0] for r in rows)
            by_op: dict[str, float] = defaultdict(float)
            for t, _, node in rows:
                by_op[node.op if node is not None else "(call protocol, commit)"] += t
            print(f"\n### Where graphc's {wl} step goes, {dtype} ({what})\n")
            print(f"untraced {fmt_time(t_plain)} per step; traced lines sum to "
                  f"{fmt_time(total)} (the tracer adds ~1 µs per line)\n")
            print("| op | time per step | share |")
            print("|---|---:|---:|")
            for op, t in sorted(by_op.items(), key=lambda kv: -kv[1])[:args.top]:
                print(f"| {op} | {fmt_time(t)} | {t / total:.0%} |")
            print("\nTop lines (graph nodes):\n")
            print("| node | shape | time per step | share |")
            print("|---|---|---:|---:|")
            for t, ln, node in rows[:args.top]:
                label = f"{node.op}" if node is not None else f"line {ln}"
                shape = str(node.shape) if node is not None else ""
                print(f"| {label} | {shape} | {fmt_time(t)} | {t / total:.0%} |")
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                gs.step()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
            print(f"\ncProfile, by own time (n = {n} steps):\n\n```")
            print("\n".join(ln for ln in out.getvalue().splitlines()
                            if ln.strip() and not ln.startswith(("Ordered", "   Random"))))
            print("```")


# ================================================================================== main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter measurements")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--target", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--workloads", default="attention,conv")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--threads", default=None,
                    help="'default' or a number (1: OMP/OPENBLAS/MKL_NUM_THREADS=1 and "
                         "torch.set_num_threads(1)); unset: default, then 1 in a subprocess")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "numba", "numba-fast"],
                    help="graphc's backend (numba-fast: NumbaBackend(fast_math=True))")
    ap.add_argument("--profile", action="store_true",
                    help="print where graphc's step spends its time instead of timing")
    ap.add_argument("--top", type=int, default=12, help="rows of the --profile tables")
    args = ap.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 15)
    args.target = args.target or (0.1 if args.quick else 0.3)
    GraphcStep.backend = args.backend
    import torch

    if args.profile:
        profile(args)
        return
    label = ("default threads" if args.threads in (None, "default") else
             f"{args.threads} thread{'s' if args.threads != '1' else ''}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch "
          f"{torch.__version__}, graphc {gc.__version__}, {os.cpu_count()} CPUs "
          f"({platform.machine()}), {label} (torch {torch.get_num_threads()}), graphc backend "
          f"{args.backend}, "
          f"{args.rounds} rounds x ~{args.target}s, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    rows = bench(args)
    print_table(rows, label)
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if args.threads is None:
        sys.stdout.flush()
        cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--threads", "1"]
        print()
        subprocess.run(cmd, check=False)


if __name__ == "__main__":
    main()
