"""Dims and shapes: an int >= 0 or a symbol (a name such as ``"B"``), compared in one place."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Union

from graphc.errors import ShapeError

Dim = Union[int, str]


def is_symbol(d: object) -> bool:
    """True for a symbolic dim (a name), False for a concrete int dim."""
    return isinstance(d, str)


def check_dim(d: object, what: str = "dim") -> Dim:
    """Validate one dim: an int >= 0 (not bool) or a symbol that is a Python identifier."""
    if isinstance(d, bool):
        raise ShapeError(f"{what} {d!r} is a bool; a dim is an int >= 0 or a symbol name")
    if isinstance(d, int) or (hasattr(d, "__index__") and not isinstance(d, str)):
        try:
            v = int(d.__index__())  # numpy ints too
        except (TypeError, AttributeError):
            raise ShapeError(f"{what} {d!r} is not an int or a symbol name") from None
        if v < 0:
            raise ShapeError(f"{what} {v} is negative; a dim is an int >= 0 or a symbol name")
        return v
    if isinstance(d, str):
        # Symbols show up in generated-code comments and DOT labels: identifiers only.
        if not d.isidentifier() or not d.isascii():
            raise ShapeError(
                f"{what} {d!r} is not a valid symbol; use a plain name such as 'B' or 'seq_len'"
            )
        return d
    raise ShapeError(f"{what} {d!r} of type {type(d).__name__} is not an int or a symbol name")


class Shape(tuple):
    """A tuple of dims that prints like ``(B, 16)`` and equals the plain tuple ``("B", 16)``."""

    __slots__ = ()

    def __new__(cls, dims: Iterable[object] = ()) -> Shape:
        if isinstance(dims, Shape):
            return dims
        if isinstance(dims, (int, str)) and not isinstance(dims, bool):
            dims = (dims,)
        try:
            items = tuple(dims)
        except TypeError:
            raise ShapeError(f"shape {dims!r} is not a tuple of dims") from None
        return super().__new__(cls, (check_dim(d, "dim") for d in items))

    def __repr__(self) -> str:
        inner = ", ".join(str(d) for d in self)
        return f"({inner},)" if len(self) == 1 else f"({inner})"

    __str__ = __repr__

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols in this shape, in order of first appearance."""
        return tuple(dict.fromkeys(d for d in self if isinstance(d, str)))

    @property
    def is_concrete(self) -> bool:
        """True when every dim is an int."""
        return all(isinstance(d, int) for d in self)

    def bind(self, binding: dict[str, int]) -> tuple[int, ...]:
        """The concrete shape for a binding of the symbols."""
        return tuple(binding[d] if isinstance(d, str) else d for d in self)

    def __getitem__(self, item):  # slicing keeps the Shape type
        r = super().__getitem__(item)
        return Shape(r) if isinstance(item, slice) else r

    def __add__(self, other) -> Shape:
        return Shape(tuple(self) + tuple(other))

    def __radd__(self, other) -> Shape:
        return Shape(tuple(other) + tuple(self))

    def __reduce__(self):
        return (Shape, (tuple(self),))


def definitely_equal(a: Dim, b: Dim) -> bool:
    """True when two dims are the same at every binding: equal ints or the same symbol."""
    return type(a) is type(b) and a == b


def same_shape(a: Sequence[Dim], b: Sequence[Dim]) -> bool:
    """True when two shapes are the same at every binding (the one shape-equality check)."""
    return len(a) == len(b) and all(map(definitely_equal, a, b))


def broadcast_dims(a: Dim, b: Dim) -> Dim:
    """numpy's rule for one axis: 1 stretches, equal dims match; anything else is unprovable."""
    if definitely_equal(a, b):
        return a
    if a == 1 and not is_symbol(a):
        return b
    if b == 1 and not is_symbol(b):
        return a
    raise ShapeError(f"dims {a} and {b} do not broadcast")


def broadcast_shapes(*shapes: Sequence[Dim]) -> Shape:
    """numpy broadcasting aligned from the right, with symbols matching only themselves or 1."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(-ndim, 0):
        d: Dim = 1
        for s in shapes:
            if len(s) >= -i:
                try:
                    d = broadcast_dims(d, s[i])
                except ShapeError:
                    shown = " and ".join(str(Shape(x)) for x in shapes)
                    raise ShapeError(
                        f"shapes {shown} do not broadcast: axis {i} has dims "
                        f"{', '.join(str(x[i]) for x in shapes if len(x) >= -i)}"
                    ) from None
        out.append(d)
    return Shape(out)


def normalize_axis(axis: object, ndim: int, what: str = "axis") -> int:
    """A single axis as a non-negative int, with numpy's negative-axis convention."""
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise ShapeError(f"{what} {axis!r} is not an int")
    a = int(axis.__index__())
    if not -ndim <= a < ndim:
        raise ShapeError(f"{what} {a} is out of range for a tensor of rank {ndim}")
    return a % ndim if ndim else a


def normalize_axes(axis: object, ndim: int) -> tuple[int, ...]:
    """None, an int or a tuple of ints as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(normalize_axis(a, ndim) for a in axis)
    else:
        axes = (normalize_axis(axis, ndim),)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axis {axis!r} repeats an axis")
    return tuple(sorted(axes))


class Numel:
    """A product of dims as an int coefficient times a multiset of symbols (for reshape)."""

    def __init__(self, dims: Iterable[Dim]):
        self.coef = 1
        self.syms: Counter[str] = Counter()
        for d in dims:
            if is_symbol(d):
                self.syms[d] += 1
            else:
                self.coef *= d
        if self.coef == 0:
            self.syms.clear()  # no elements, whatever the symbols are bound to

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Numel) and self.coef == other.coef and +self.syms == +other.syms
        )

    def divide(self, other: Numel) -> Dim | None:
        """self / other as a single dim, or None when that quotient is not one dim."""
        if self.coef == 0 and other.coef != 0:
            return 0
        rest = self.syms - other.syms
        if other.syms - self.syms:
            return None
        if other.coef == 0:
            return None
        if self.coef % other.coef:
            return None
        q = self.coef // other.coef
        n_syms = sum(rest.values())
        if n_syms == 0:
            return q
        if n_syms == 1 and q == 1:
            return next(iter(rest))
        return None

    def __str__(self) -> str:
        parts = [str(self.coef)] if self.coef != 1 or not self.syms else []
        for s, k in sorted(self.syms.items()):
            parts += [s] * k
        return "*".join(parts)


def prod(dims: Iterable[int]) -> int:
    """Product of concrete dims."""
    return math.prod(dims)
