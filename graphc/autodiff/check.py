"""``gc.check_grad``: gradients against finite differences along random directions."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.autodiff.reverse import grad
from graphc.ir.graph import Graph
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
    _check_arguments(y, xs, order)
    g, y, xs, feed = _on_a_copy(y, xs, feed)
    rng = np.random.default_rng(seed)
    fed = dict(resolve_feed(g, feed))
    xs_vals = _values_of(g, xs, fed)
    _require_float64(y, xs)
    u, u_t = _projection(g, y, fed, rng)
    grads = grad(y, list(xs), seed=u_t)
    check = _Check(g, y, xs, xs_vals, fed, u, eps, rtol, atol)
    for d in range(directions):
        vs = [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in xs_vals]
        check.first_order(d, grads, vs)
        if order == 2:
            check.second_order(d, grads, vs, rng)
    return check.report


def _check_arguments(y: Any, xs: Any, order: Any) -> None:
    """TypeError / ValueError for an order other than 1 or 2, a non-Tensor y, xs not a list."""
    if order not in (1, 2):
        raise ValueError(f"check_grad: order must be 1 or 2, got {order}")
    if not isinstance(y, Tensor):
        raise TypeError(f"check_grad: y must be a graphc Tensor, got {type(y).__name__}")
    if isinstance(xs, Tensor) or not isinstance(xs, (list, tuple)):
        raise TypeError("check_grad: xs must be a list of Tensors (e.g. gc.check_grad(loss, [W]))")


def _on_a_copy(y: Tensor, xs: Sequence[Tensor], feed: Mapping[Any, Any] | None
               ) -> tuple[Graph, Tensor, list[Tensor], dict[Any, Any]]:
    """A copy of y's graph with y, xs and feed's Tensor keys moved to it (the user's graph
    gains no nodes)."""
    src = y.graph
    g = copy.deepcopy(src)
    feed = {(Tensor(g, src.own(k, "feed key").id) if isinstance(k, Tensor) else k): v
            for k, v in (feed or {}).items()}
    xs = [Tensor(g, src.own(x, f"check_grad: xs[{k}]").id) for k, x in enumerate(xs)]
    return g, Tensor(g, y.id), xs, feed


def _values_of(g: Graph, xs: list[Tensor], fed: dict[int, Any]) -> list[np.ndarray]:
    """The value of each x, from the feed or (a param) the graph's params."""
    base = {}
    for k, x in enumerate(xs):
        g.own(x, f"check_grad: xs[{k}]")
        if x.node.role not in ("input", "param"):
            raise TypeError(f"check_grad: xs[{k}] must be an input or a param, got {x!r}")
        v = fed.get(x.id, g.params.get(x.name)) if x.node.role == "param" else fed.get(x.id)
        if v is None:
            raise TypeError(f"check_grad: no value for {x.name!r}; put it in feed")
        base[x.id] = np.asarray(v, dtype=x.dtype)
    return [base[x.id] for x in xs]


def _require_float64(y: Tensor, xs: list[Tensor]) -> None:
    """TypeError unless y and every x are float64."""
    for what, t in [("y", y), *((f"xs[{k}]", x) for k, x in enumerate(xs))]:
        if t.dtype != np.float64:
            raise TypeError(
                f"check_grad: {what} ({t!r}) has dtype {t.dtype}; finite differences need "
                "float64 to resolve 1e-6 (build the graph in float64 to check it)"
            )


def _projection(g: Graph, y: Tensor, fed: dict[int, Any], rng: np.random.Generator
                ) -> tuple[np.ndarray | None, Tensor | None]:
    """For a non-scalar y, a random direction u and the input that holds it (put in ``fed``);
    (None, None) for a scalar y."""
    y_val = evaluate(y, {g.tensor(i): v for i, v in fed.items()})
    if np.ndim(y_val) == 0:
        return None, None
    u = rng.standard_normal(np.shape(y_val)).astype(y.dtype)
    # the projection direction enters as an input of y's (possibly symbolic) shape
    u_t = g.input("check_grad/u", y.shape, y.dtype)
    fed[u_t.id] = u
    return u, u_t


@dataclass
class _Check:
    """The comparisons of one ``check_grad`` call, on the copied graph ``g``."""

    g: Graph
    y: Tensor
    xs: list[Tensor]
    xs_vals: list[np.ndarray]
    #: node id -> value, for every input the graphs read (u and the vs included)
    fed: dict[int, Any]
    u: np.ndarray | None
    eps: float
    rtol: float
    atol: float
    report: GradCheckReport = field(default_factory=GradCheckReport)

    def run(self, target: Tensor, vals: list[np.ndarray]) -> np.ndarray:
        """``target`` evaluated with the xs set to ``vals``."""
        return evaluate(target, _feed(self.g, self.fed, self.xs, vals))

    def scalar_y(self, vals: list[np.ndarray]) -> float:
        """y at ``vals``, projected onto u when y is not a scalar."""
        out = self.run(self.y, vals)
        return float(np.sum(out * self.u)) if self.u is not None else float(out)

    def first_order(self, d: int, grads: list[Tensor], vs: list[np.ndarray]) -> None:
        """sum(<dy/dx, v>) against finite differences of y along vs."""
        parts = [float(np.sum(gv * v))
                 for gv, v in zip(evaluate(grads, self.run_feed()), vs)]
        numeric = _directional_fd(self.scalar_y, self.xs_vals, vs, self.eps)
        self.compare(f"first order, direction {d}", parts, numeric, self.scalar_y, vs)

    def second_order(self, d: int, grads: list[Tensor], vs: list[np.ndarray],
                     rng: np.random.Generator) -> None:
        """The Hessian-vector product H v, along random ws, against finite differences of
        z(x) = <grad y(x), v>, whose gradient it is."""
        g = self.g
        z = None
        for k, (gx, x, v) in enumerate(zip(grads, self.xs, vs)):
            # v enters as an input of x's symbolic shape
            vt = g.input(f"check_grad/v{d}_{k}", x.shape, x.dtype)
            self.fed[vt.id] = v
            term = (gx * vt).sum()
            z = term if z is None else z + term
        hv = grad(z, list(self.xs))
        ws = [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in self.xs_vals]
        parts = [float(np.sum(h * w)) for h, w in zip(evaluate(hv, self.run_feed()), ws)]

        def z_at(vals):
            return float(self.run(z, vals))

        numeric = _directional_fd(z_at, self.xs_vals, ws, self.eps)
        self.compare(f"second order, direction {d}", parts, numeric, z_at, ws)

    def run_feed(self) -> dict[Tensor, Any]:
        """The feed at the checked point (the xs at their values)."""
        return _feed(self.g, self.fed, self.xs, self.xs_vals)

    def within(self, analytic: float, numeric: float) -> tuple[float, float]:
        """(|analytic - numeric|, the tolerance for them)."""
        tol = self.atol + self.rtol * max(abs(analytic), abs(numeric))
        return abs(analytic - numeric), tol

    def compare(self, what: str, parts: list[float], numeric: float, f, dirs) -> None:
        """Record one check; GradCheckError, naming the xs that are off, on a mismatch."""
        analytic = sum(parts)
        err, tol = self.within(analytic, numeric)
        self.report.checks.append({"what": what, "analytic": analytic, "numeric": numeric,
                                   "ratio": err / tol})
        if err > tol:
            raise GradCheckError(
                f"{what}: analytic {analytic!r} vs finite differences {numeric!r} "
                f"(|diff| {err:.3g} > tolerance {tol:.3g}; y built at {self.y.node.loc}): "
                f"{self.blame(parts, f, dirs)}"
            )

    def blame(self, parts: list[float], f, dirs: list[np.ndarray]) -> str:
        """Which xs are off: each x's own term of the directional check, along its own
        direction only (the joint check cannot say which x is wrong)."""
        off = []
        for k, (x, part) in enumerate(zip(self.xs, parts)):
            only = [w if j == k else np.zeros_like(w) for j, w in enumerate(dirs)]
            numeric = _directional_fd(f, self.xs_vals, only, self.eps)
            err, tol = self.within(part, numeric)
            if err > tol:
                off.append(f"{x.node.role} {x.name!r} (analytic {part!r} vs finite "
                           f"differences {numeric!r})")
        if not off:
            return "no single x is off on its own"
        return "the gradient of " + "; ".join(off) + " disagrees"


def _feed(g, fed, xs, vals):
    """The evaluation feed: every fed input, and the xs set to ``vals``."""
    f = {g.tensor(i): v for i, v in fed.items()}
    f.update(dict(zip(xs, vals)))
    return f
