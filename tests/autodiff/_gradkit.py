"""Helpers shared by the autodiff tests: concrete shapes, input domains, a counted check_grad."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

import graphc as gc
from graphc.ir.nxgraph import needed

#: every check_grad run by the autodiff tests adds here; the conftest prints the totals
TALLY = {"check_grad calls": 0, "directional comparisons": 0}


def concrete(shape: Sequence[Any], B: int | None) -> tuple[int, ...]:
    """``shape`` with every symbol bound to ``B`` (expressions evaluated: ``B + 3`` is B + 3)."""
    s = gc.Shape(shape)
    return s.bind(dict.fromkeys(s.symbols, B))


def has_symbol(*shapes: Sequence[Any]) -> bool:
    return any(isinstance(d, (str, gc.Dim)) for s in shapes for d in s)


def rng_for(label: str) -> np.random.Generator:
    """A generator seeded by the test's label, so every case is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(label.encode()))


def draw(rng: np.random.Generator, shape: tuple[int, ...], domain: str) -> np.ndarray:
    """Values for one input, away from the kinks and singularities of the op under test.

    any: standard normal; pos: in [0.5, 1.5]; away0: |x| in [0.3, 1.5], either sign;
    lattice / lattice_half: distinct multiples of 1/4 (offset by 1/8): no two entries of a
    lattice and a lattice_half array are closer than 1/8, so max/maximum/minimum have no
    ties within a finite-difference step; int:K: integers in [0, K); bool: coin flips.
    """
    n = int(np.prod(shape, dtype=int))
    if domain == "any":
        v = rng.standard_normal(n)
    elif domain == "pos":
        v = rng.uniform(0.5, 1.5, n)
    elif domain == "away0":
        v = rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 1.5, n)
    elif domain in ("lattice", "lattice_half"):
        v = (rng.permutation(n) - n // 2) * 0.25 + (0.125 if domain == "lattice_half" else 0.0)
    elif domain.startswith("int:"):
        v = rng.integers(0, int(domain[4:]), n)
    elif domain == "bool":
        v = rng.random(n) < 0.5
    else:
        raise ValueError(domain)
    return np.asarray(v).reshape(shape)


def dtype_of(domain: str) -> Any:
    if domain.startswith("int:"):
        return np.int64
    if domain == "bool":
        return np.bool_
    return np.float64


def check(y: gc.Tensor, xs: list[gc.Tensor], feed: dict, order: int = 2,
          directions: int = 2) -> gc.autodiff.check.GradCheckReport:
    """gc.check_grad at 1e-6 relative in float64, counted in TALLY."""
    report = gc.check_grad(y, xs, feed, order=order, directions=directions, rtol=1e-6)
    assert report.count == order * directions
    assert report.worst <= 1.0
    TALLY["check_grad calls"] += 1
    TALLY["directional comparisons"] += report.count
    return report


def ops_under(y: gc.Tensor) -> set[str]:
    """The ops of every node ``y`` depends on."""
    return {y.graph.node(i).op for i in needed(y.graph, [y.id])}


def unbroadcast_nodes(g: gc.Graph, start: int = 0) -> list:
    """Nodes (with id >= start) that sum_to inserted: their meta has ``unbroadcast``."""
    return [n for n in g.nodes[start:] if n.info.get("unbroadcast")]
