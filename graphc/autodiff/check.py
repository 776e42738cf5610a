"""``gc.check_grad``: gradients against finite differences along random directions."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.autodiff.grad import grad
from graphc.ir.tensor import Tensor
from graphc.ops.evaluate import evaluate, resolve_feed


class GradCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


@dataclass
class GradCheckReport:
    """What ``check_grad`` compared: one entry per (order, direction)."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.checks)

    @property
    def worst(self) -> float:
        """The largest error relative to the tolerance (<= 1 means every check passed)."""
        return max((c["ratio"] for c in self.checks), default=0.0)


def _directional_fd(f, xs_vals, vs, h):
    """d/dt f(x + t v) at t = 0, by the 5-point central stencil (error O(h^4))."""
    def at(t):
        return f([x + t * v for x, v in zip(xs_vals, vs)])

    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def check_grad(y: Tensor, xs: Sequence[Tensor], feed: Mapping[Any, Any] | None = None, *,
               order: int = 2, directions: int = 2, eps: float = 1e-4, rtol: float = 1e-6,
               atol: float = 1e-9, seed: int = 0) -> GradCheckReport:
    """Check ``gc.grad(y, xs)`` against finite differences of ``gc.evaluate`` in float64.

    Along ``directions`` random directions v (one per x, jointly): the directional
    derivative sum(<dy/dx, v>) against a 5-point finite difference of y (order 1); with
    ``order=2`` also the gradient of that directional derivative (a Hessian-vector product)
    against finite differences of the first-order graph. A non-scalar ``y`` is projected
    onto a random direction u (the vjp with seed u). ``xs`` (a list) may be params or
    inputs; values come from ``feed`` (keys: Tensors or names; it may override params) and
    ``graph.params``. ``y`` and ``xs`` must be float64 (a TypeError otherwise). Raises
    ``GradCheckError`` on a mismatch |a - n| > atol + rtol * max(|a|, |n|), naming the xs
    whose own gradient is off; returns a report otherwise. The user's graph is not changed.
    """
    if order not in (1, 2):
        raise ValueError(f"check_grad: order must be 1 or 2, got {order}")
    if not isinstance(y, Tensor):
        raise TypeError(f"check_grad: y must be a graphc Tensor, got {type(y).__name__}")
    if isinstance(xs, Tensor) or not isinstance(xs, (list, tuple)):
        raise TypeError("check_grad: xs must be a list of Tensors (e.g. gc.check_grad(loss, [W]))")
    # work on a copy, so that the user's graph gains no nodes
    src = y.graph
    g = copy.deepcopy(src)
    feed = {(Tensor(g, src.own(k, "feed key").id) if isinstance(k, Tensor) else k): v
            for k, v in (feed or {}).items()}
    xs = [Tensor(g, src.own(x, f"check_grad: xs[{k}]").id) for k, x in enumerate(xs)]
    y = Tensor(g, y.id)
    rng = np.random.default_rng(seed)
    fed = dict(resolve_feed(g, feed))
    base = {}
    for k, x in enumerate(xs):
        g.own(x, f"check_grad: xs[{k}]")
        if x.node.role not in ("input", "param"):
            raise TypeError(f"check_grad: xs[{k}] must be an input or a param, got {x!r}")
        v = fed.get(x.id, g.params.get(x.name)) if x.node.role == "param" else fed.get(x.id)
        if v is None:
            raise TypeError(f"check_grad: no value for {x.name!r}; put it in feed")
        base[x.id] = np.asarray(v, dtype=x.dtype)
    for what, t in [("y", y), *((f"xs[{k}]", x) for k, x in enumerate(xs))]:
        if t.dtype != np.float64:
            raise TypeError(
                f"check_grad: {what} ({t!r}) has dtype {t.dtype}; finite differences need "
                "float64 to resolve 1e-6 (build the graph in float64 to check it)"
            )
    xs_vals = [base[x.id] for x in xs]
    y_val = evaluate(y, {g.tensor(i): v for i, v in fed.items()})
    u = None if np.ndim(y_val) == 0 else rng.standard_normal(np.shape(y_val)).astype(y.dtype)
    # the projection direction enters as an input of y's (possibly symbolic) shape
    u_t = None
    if u is not None:
        u_t = g.input("check_grad/u", y.shape, y.dtype)
        fed[u_t.id] = u
    grads = grad(y, list(xs), seed=u_t)

    def run(target: Tensor, vals: list[np.ndarray]) -> np.ndarray:
        f = {g.tensor(i): v for i, v in fed.items()}
        f.update({x: val for x, val in zip(xs, vals)})
        return evaluate(target, f)

    def scalar_y(vals):
        out = run(y, vals)
        return float(np.sum(out * u)) if u is not None else float(out)

    report = GradCheckReport()

    def within(analytic, numeric):
        tol = atol + rtol * max(abs(analytic), abs(numeric))
        return abs(analytic - numeric), tol

    def blame(parts, f, dirs):
        """Which xs are off: each x's own term of the directional check, along its own
        direction only (the joint check cannot say which x is wrong)."""
        off = []
        for k, (x, part) in enumerate(zip(xs, parts)):
            only = [w if j == k else np.zeros_like(w) for j, w in enumerate(dirs)]
            numeric = _directional_fd(f, xs_vals, only, eps)
            err, tol = within(part, numeric)
            if err > tol:
                off.append(f"{x.node.role} {x.name!r} (analytic {part!r} vs finite "
                           f"differences {numeric!r})")
        if not off:
            return "no single x is off on its own"
        return "the gradient of " + "; ".join(off) + " disagrees"

    def compare(what, parts, numeric, f, dirs):
        analytic = sum(parts)
        err, tol = within(analytic, numeric)
        report.checks.append({"what": what, "analytic": analytic, "numeric": numeric,
                              "ratio": err / tol})
        if err > tol:
            raise GradCheckError(
                f"{what}: analytic {analytic!r} vs finite differences {numeric!r} "
                f"(|diff| {err:.3g} > tolerance {tol:.3g}; y built at {y.node.loc}): "
                f"{blame(parts, f, dirs)}"
            )

    for d in range(directions):
        vs = [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in xs_vals]
        parts = [float(np.sum(gv * v))
                 for gv, v in zip(evaluate(grads, _feed(g, fed, xs, xs_vals)), vs)]
        numeric = _directional_fd(scalar_y, xs_vals, vs, eps)
        compare(f"first order, direction {d}", parts, numeric, scalar_y, vs)
        if order == 2:
            # z(x) = <grad y(x), v>; its gradient is the Hessian-vector product H v
            # (v enters as an input of x's symbolic shape)
            z = None
            for k, (gx, x, v) in enumerate(zip(grads, xs, vs)):
                vt = g.input(f"check_grad/v{d}_{k}", x.shape, x.dtype)
                fed[vt.id] = v
                term = (gx * vt).sum()
                z = term if z is None else z + term
            hv = grad(z, list(xs))
            ws = [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in xs_vals]
            parts2 = [float(np.sum(h * w))
                      for h, w in zip(evaluate(hv, _feed(g, fed, xs, xs_vals)), ws)]

            def z_at(vals, z=z):
                return float(run(z, vals))

            numeric2 = _directional_fd(z_at, xs_vals, ws, eps)
            compare(f"second order, direction {d}", parts2, numeric2, z_at, ws)
    return report


def _feed(g, fed, xs, vals):
    f = {g.tensor(i): v for i, v in fed.items()}
    f.update(dict(zip(xs, vals)))
    return f
