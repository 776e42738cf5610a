"""Dims and shapes: a dim is an int >= 0 or a ``Dim``, an integer expression over symbols
(``B``, ``B*T``, ``T - 1``, ``(T + 1)//2``), compared in one place.

A ``Dim`` is a polynomial with int coefficients over *atoms*: symbols (names bound to sizes
by the inputs at call time) and floor divisions ``e//c`` of an expression by an int
``c >= 2``. It has one canonical form, so equal expressions compare and hash equal:

- terms are sorted (higher degree first, then by name; the constant last), and a term
  whose coefficient is 0 is dropped;
- ``e//c`` takes out of ``e`` every multiple of ``c`` (``(2*T + 3)//2`` is ``T + 1``,
  ``(T - 3)//2`` is ``(T + 1)//2 - 2``), so that its coefficients lie in ``[0, c)`` and have
  no common factor with ``c``; ``(e//a)//b`` is ``e//(a*b)``;
- ``e % c`` is ``e - c*(e//c)``;
- an expression without symbols is a plain int: a ``Dim`` always has a symbol.

A Dim compares equal to another Dim with the same canonical form, or to a string that
parses to it (``x.shape == ("B", 16)``), and hashes like its printed form. Ordering
comparisons are refused: whether ``T - 1 < T`` holds is not a question for a shape rule.
Strings are parsed by a small grammar (ints, names, ``+ - * // %`` and parentheses), never
by ``eval``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from graphc.errors import ShapeError

#: bounds on one expression, so a hostile string or a runaway product cannot blow up
MAX_TEXT = 10_000
MAX_TERMS = 64
MAX_DEGREE = 8
MAX_COEF = 2**62
_MAX_DEPTH = 32


class _FloorDiv:
    """The atom ``expr//c``: ``expr`` a canonical Dim whose coefficients lie in [0, c) with
    no common factor with ``c``, ``c >= 2``."""

    __slots__ = ("expr", "c", "key")

    def __init__(self, expr: Dim, c: int):
        self.expr, self.c = expr, c
        self.key = (1, str(expr), c)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FloorDiv) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


Atom = Union[str, _FloorDiv]
#: a product of atoms: ((atom, exponent), ...) sorted by atom
Mono = tuple
Terms = dict  # Mono -> int coefficient


def _atom_key(a: Atom) -> tuple:
    return (0, a, 0) if isinstance(a, str) else a.key


def _mono_key(m: Mono) -> tuple:
    degree = sum(e for _, e in m)
    return (-degree, tuple((_atom_key(a), -e) for a, e in m))


def _mono_mul(m1: Mono, m2: Mono) -> Mono:
    if not m1 or not m2:
        return m1 or m2
    exps: dict[Atom, int] = dict(m1)
    for a, e in m2:
        exps[a] = exps.get(a, 0) + e
    return tuple(sorted(exps.items(), key=lambda ae: _atom_key(ae[0])))


def _make(terms: Terms) -> int | Dim:
    """The canonical int or Dim of ``{monomial: coefficient}``."""
    terms = {m: c for m, c in terms.items() if c}
    if not terms:
        return 0
    if len(terms) == 1 and () in terms:
        return terms[()]
    if len(terms) > MAX_TERMS:
        raise ShapeError(f"a dim expression of {len(terms)} terms is too complex "
                         f"(at most {MAX_TERMS})")
    for m, c in terms.items():
        if sum(e for _, e in m) > MAX_DEGREE:
            raise ShapeError(f"a dim expression of degree above {MAX_DEGREE} is too complex")
        if abs(c) > MAX_COEF:
            raise ShapeError(f"a dim expression's coefficient {c} is too large")
    d = object.__new__(Dim)
    d._terms = tuple(sorted(terms.items(), key=lambda mc: _mono_key(mc[0])))
    d._text = None
    return d


def _terms(x: int | Dim) -> Terms:
    return dict(x._terms) if isinstance(x, Dim) else ({(): x} if x else {})


def _add(a: Terms, b: Terms, sign: int = 1) -> int | Dim:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + sign * c
    return _make(out)


def _mul(a: Terms, b: Terms) -> int | Dim:
    out: Terms = {}
    for m1, c1 in a.items():
        for m2, c2 in b.items():
            m = _mono_mul(m1, m2)
            out[m] = out.get(m, 0) + c1 * c2
    return _make(out)


def _floordiv(a: Terms, c: int) -> int | Dim:
    """``a // c`` for an int ``c >= 1`` (floor semantics, as Python's ``//``)."""
    if c == 1:
        return _make(a)
    whole: Terms = {}
    rest: Terms = {}
    for m, k in a.items():
        q, r = divmod(k, c)
        if q:
            whole[m] = q
        if r:
            rest[m] = r
    if not rest or list(rest) == [()]:  # a remainder in [0, c) floors to 0
        return _make(whole)
    g = math.gcd(c, *rest.values())
    if g > 1:
        rest = {m: k // g for m, k in rest.items()}
        c //= g
    inner = _lone_floordiv(rest)
    if inner is not None:  # (e//a)//c == e//(a*c)
        return _add(whole, _terms(_floordiv(_terms(inner.expr), inner.c * c)))
    atom = _FloorDiv(_make(rest), c)
    whole[((atom, 1),)] = whole.get(((atom, 1),), 0) + 1
    return _make(whole)


def _lone_floordiv(t: Terms) -> _FloorDiv | None:
    """The atom when ``t`` is exactly one floor division ``e//a``, else None."""
    if len(t) == 1:
        (m, k), = t.items()
        if k == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], _FloorDiv):
            return m[0][0]
    return None


def _as_int(x: Any) -> int | None:
    """``x`` as an int when it is one (numpy ints too; not bool), else None."""
    if isinstance(x, bool) or isinstance(x, (str, Dim)) or not hasattr(x, "__index__"):
        return None
    try:
        return int(x.__index__())
    except (TypeError, AttributeError):
        return None


def _operand(x: Any) -> Terms | None:
    if isinstance(x, Dim):
        return dict(x._terms)
    i = _as_int(x)
    return None if i is None else _terms(i)


def _divisor(x: Any, op: str, a: Any) -> int:
    c = x if isinstance(x, int) else _as_int(x)
    if c is None or c <= 0:
        raise ShapeError(f"{a} {op} {x}: a dim can only be divided by a positive int")
    return c


class Dim:
    """A symbolic dim: an integer expression over symbols in canonical form.

    ``Dim("B")`` is the symbol B; ``Dim("B*T")``, ``Dim("(T - 3)//2 + 1")`` parse an
    expression (an expression without symbols is returned as an int). Dims combine with
    ints and each other by ``+ - *``, and ``//`` and ``%`` by a positive int:
    ``x.shape[1] - 1``, ``B * T``. ``evaluate({"B": 8, "T": 5})`` gives the int.
    """

    __slots__ = ("_terms", "_text")

    def __new__(cls, expr: Any) -> Any:
        if isinstance(expr, Dim):
            return expr
        if isinstance(expr, str):
            return parse_dim(expr)
        raise TypeError(f"Dim({expr!r}): expected a symbol name or an expression string")

    # --------------------------------------------------------------------- queries
    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols the expression reads, sorted."""
        out: set[str] = set()
        for m, _ in self._terms:
            for a, _ in m:
                out.update((a,) if isinstance(a, str) else a.expr.symbols)
        return tuple(sorted(out))

    @property
    def name(self) -> str | None:
        """The symbol's name when this Dim is a plain symbol (``B``), else None."""
        if len(self._terms) == 1:
            m, c = self._terms[0]
            if c == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], str):
                return m[0][0]
        return None

    def linear_in(self, symbol: str) -> tuple[int, int | Dim] | None:
        """``(a, rest)`` when this is ``a*symbol + rest`` with ``rest`` free of ``symbol``,
        else None (how an input's dim ``T - 1`` or ``2*S`` is solved for its symbol)."""
        a, rest = 0, {}
        for m, c in self._terms:
            if m == ((symbol, 1),):
                a = c
            elif symbol in _mono_symbols(m):
                return None
            else:
                rest[m] = c
        return (a, _make(rest)) if a else None

    @property
    def constant(self) -> int:
        """The constant term (``-1`` of ``T - 1``)."""
        return self._terms[-1][1] if self._terms[-1][0] == () else 0

    def is_nonnegative(self) -> bool:
        """True when the expression is >= 0 whatever sizes its symbols are bound to."""
        return all(c > 0 or m == () and c >= 0 for m, c in self._terms) and all(
            isinstance(a, str) or a.expr.is_nonnegative() for m, _ in self._terms for a, _ in m)

    def evaluate(self, binding: Mapping[str, int]) -> int:
        """The int for a binding of the symbols (a KeyError names a symbol it lacks)."""
        total = 0
        for m, c in self._terms:
            v = c
            for a, e in m:
                v *= (binding[a] if isinstance(a, str) else a.expr.evaluate(binding) // a.c) ** e
            total += v
        return total

    def divide_exact(self, other: int | Dim) -> int | Dim | None:
        """``self / other`` when it is exact for every binding (``B*T / T`` is ``B``), with
        ``other`` an int or a single-term Dim; else None."""
        if isinstance(other, int):
            if other == 0 or any(c % other for _, c in self._terms):
                return None
            return _make({m: c // other for m, c in self._terms})
        if len(other._terms) != 1:
            return self if self == other else None
        (dm, dc), = other._terms
        out: Terms = {}
        for m, c in self._terms:
            q = _mono_div(m, dm)
            if q is None or c % dc:
                return None
            out[q] = c // dc
        return _make(out)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Any:
        o = _operand(other)
        return NotImplemented if o is None else _add(dict(self._terms), o)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        o = _operand(other)
        return NotImplemented if o is None else _add(dict(self._terms), o, -1)

    def __rsub__(self, other: Any) -> Any:
        o = _operand(other)
        return NotImplemented if o is None else _add(o, dict(self._terms), -1)

    def __mul__(self, other: Any) -> Any:
        o = _operand(other)
        return NotImplemented if o is None else _mul(dict(self._terms), o)

    __rmul__ = __mul__

    def __neg__(self) -> Any:
        return _make({m: -c for m, c in self._terms})

    def __pos__(self) -> Dim:
        return self

    def __floordiv__(self, other: Any) -> Any:
        if isinstance(other, Dim):
            q = self.divide_exact(other)
            if q is None:
                raise ShapeError(f"{self} // {other}: a dim can only be divided by a positive "
                                 "int, or by a dim that divides it exactly")
            return q
        if _operand(other) is None:
            return NotImplemented
        return _floordiv(dict(self._terms), _divisor(other, "//", self))

    def __rfloordiv__(self, other: Any) -> Any:
        if _operand(other) is None:
            return NotImplemented
        raise ShapeError(f"{other} // {self}: a dim can only be divided by a positive int")

    def __mod__(self, other: Any) -> Any:
        if _operand(other) is None and not isinstance(other, Dim):
            return NotImplemented
        c = _divisor(other, "%", self)
        return self - c * _floordiv(dict(self._terms), c)

    def __rmod__(self, other: Any) -> Any:
        if _operand(other) is None:
            return NotImplemented
        raise ShapeError(f"{other} % {self}: a dim can only be taken modulo a positive int")

    # ---------------------------------------------------------------- comparisons
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Dim):
            return self._terms == other._terms
        if isinstance(other, str):
            try:
                other = parse_dim(other)
            except ShapeError:
                return False
            return isinstance(other, Dim) and self._terms == other._terms
        return False

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(str(self))  # as the string it equals

    def _refuse(self, other: object) -> bool:
        raise TypeError(f"cannot order the symbolic dim {self} and {other}: it depends on "
                        "the sizes bound at call time")

    __lt__ = __le__ = __gt__ = __ge__ = _refuse

    # --------------------------------------------------------------------- printing
    def __str__(self) -> str:
        if self._text is None:
            self._text = self.render(str)
        return self._text

    __repr__ = __str__

    def render(self, name_of: Callable[[str], str]) -> str:
        """The expression as Python source, each symbol spelled ``name_of(symbol)`` (``str``
        for the canonical text, the generated code's variables for its code)."""
        out = ""
        for i, (m, c) in enumerate(self._terms):
            # a leading unary minus binds tighter than //: -(T//2), not -T//2
            text = _mono_text(m, abs(c), name_of, alone_ok=c > 0 or i > 0)
            if i == 0:
                out = text if c > 0 else "-" + text
            else:
                out += (" + " if c > 0 else " - ") + text
        return out

    def __reduce__(self):
        return (parse_dim, (str(self),))


def _mono_symbols(m: Mono) -> set[str]:
    out: set[str] = set()
    for a, _ in m:
        out.update((a,) if isinstance(a, str) else a.expr.symbols)
    return out


def _mono_div(m: Mono, d: Mono) -> Mono | None:
    exps = dict(m)
    for a, e in d:
        if exps.get(a, 0) < e:
            return None
        exps[a] -= e
    return tuple(sorted(((a, e) for a, e in exps.items() if e), key=lambda ae: _atom_key(ae[0])))


def _atom_text(a: Atom, name_of: Callable[[str], str], alone: bool) -> str:
    if isinstance(a, str):
        return name_of(a)
    inner = a.expr.render(name_of)
    if a.expr.name is None:
        inner = f"({inner})"
    text = f"{inner}//{a.c}"
    return text if alone else f"({text})"


def _mono_text(m: Mono, c: int, name_of: Callable[[str], str], alone_ok: bool) -> str:
    if not m:
        return str(c)
    alone = alone_ok and c == 1 and len(m) == 1 and m[0][1] == 1
    factors = [str(c)] if c != 1 else []
    for a, e in m:
        factors += [_atom_text(a, name_of, alone)] * e
    return "*".join(factors)


# ---------------------------------------------------------------------------- the parser

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*%()]))")
_PARSED: dict[str, int | Dim] = {}


def parse_dim(text: str) -> int | Dim:
    """An expression string as its canonical int or Dim: ints, symbol names (ASCII
    identifiers), ``+ - * // %`` (``//`` and ``%`` by a positive int) and parentheses.
    Anything else is a ShapeError (a ValueError) naming the string; nothing is evaluated."""
    if not isinstance(text, str):
        raise ShapeError(f"dim expression {text!r} is not a string")
    hit = _PARSED.get(text)
    if hit is not None:
        return hit
    if len(text) > MAX_TEXT:
        raise ShapeError(f"dim expression {text[:40]!r}... is longer than {MAX_TEXT} characters")
    tokens = _tokenize(text)
    p = _Parser(text, tokens)
    value = p.expr(0)
    if p.i != len(tokens):
        raise p.fail(f"unexpected {tokens[p.i]!r}")
    if len(_PARSED) < 4096:
        _PARSED[text] = value
    return value


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise ShapeError(f"dim expression {text!r}: unexpected {text[pos:pos + 10]!r} (use "
                             "ints, symbol names, + - * // % and parentheses)")
        num, name, op = m.groups()
        if num is not None and len(num) > 18:
            raise ShapeError(f"dim expression {text!r}: the int {num[:20]}... is too large")
        if name is not None and not name.isascii():
            raise ShapeError(f"dim expression {text!r}: symbol names are ASCII identifiers")
        tokens.append(num or name or op)
        pos = m.end()
    if not tokens:
        raise ShapeError(f"dim expression {text!r} is empty")
    return tokens


class _Parser:
    """expr := term (("+" | "-") term)*;  term := unary (("*" | "//" | "%") unary)*;
    unary := ("-" | "+") unary | INT | NAME | "(" expr ")"."""

    def __init__(self, text: str, tokens: list[str]):
        self.text, self.tokens, self.i = text, tokens, 0

    def fail(self, why: str) -> ShapeError:
        return ShapeError(f"dim expression {self.text!r}: {why}")

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.fail("it ends too early")
        self.i += 1
        return tok

    def expr(self, depth: int) -> int | Dim:
        if depth > _MAX_DEPTH:
            raise self.fail(f"nested deeper than {_MAX_DEPTH}")
        v = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term(depth)
            v = v + w if op == "+" else v - w
        return v

    def term(self, depth: int) -> int | Dim:
        v = self.unary(depth)
        while self.peek() in ("*", "//", "%"):
            op = self.take()
            w = self.unary(depth)
            if op == "*":
                v = v * w
            elif isinstance(w, Dim) or w <= 0:
                raise self.fail(f"{op} {w}: dims are divided only by a positive int")
            else:
                v = v // w if op == "//" else v % w
        return v

    def unary(self, depth: int) -> int | Dim:
        tok = self.take()
        if tok in ("-", "+"):
            if depth > _MAX_DEPTH:
                raise self.fail(f"nested deeper than {_MAX_DEPTH}")
            v = self.unary(depth + 1)
            return -v if tok == "-" else v
        if tok == "(":
            v = self.expr(depth + 1)
            if self.take() != ")":
                raise self.fail("a parenthesis is not closed")
            return v
        if tok.isdigit():
            return int(tok)
        if tok[0].isalpha() or tok[0] == "_":
            return _symbol(tok)
        raise self.fail(f"unexpected {tok!r}")


def _symbol(name: str) -> Dim:
    d = object.__new__(Dim)
    d._terms = ((((name, 1),), 1),)
    d._text = None
    return d


def symbol(name: str) -> Dim:
    """The symbol called ``name`` (an ASCII identifier)."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise ShapeError(f"{name!r} is not a valid symbol; use a plain name such as 'B' or "
                         "'seq_len'")
    return _symbol(name)


# ---------------------------------------------------------------------------------- dims

DimLike = Union[int, Dim]


def is_symbolic(d: object) -> bool:
    """True for a symbolic dim (a Dim), False for a concrete int dim."""
    return isinstance(d, Dim)


def symbol_of(d: object) -> str | None:
    """The symbol's name when ``d`` is a plain symbol (``B``), else None."""
    return d.name if isinstance(d, Dim) else None


def check_dim(d: object, what: str = "dim") -> DimLike:
    """Validate one dim: an int >= 0 (not bool), a Dim, or a symbol name or expression
    string (parsed); an expression without symbols must be >= 0."""
    if isinstance(d, bool):
        raise ShapeError(f"{what} {d!r} is a bool; a dim is an int >= 0 or a symbol name")
    if isinstance(d, Dim):
        return d
    if isinstance(d, str):
        v = parse_dim(d)
        if isinstance(v, Dim):
            return v
        d = v
    v = _as_int(d)
    if v is None:
        raise ShapeError(f"{what} {d!r} of type {type(d).__name__} is not an int, a symbol "
                         "name or a dim expression")
    if v < 0:
        raise ShapeError(f"{what} {v} is negative; a dim is an int >= 0 or a symbol name")
    return v


class Shape(tuple):
    """A tuple of dims that prints like ``(B, 16)`` and equals the plain tuple ``("B", 16)``."""

    __slots__ = ()

    def __new__(cls, dims: Iterable[object] = ()) -> Shape:
        if isinstance(dims, Shape):
            return dims
        if isinstance(dims, (int, str, Dim)) and not isinstance(dims, bool):
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
        """The symbols the dims read, in order of first appearance."""
        out: dict[str, None] = {}
        for d in self:
            if isinstance(d, Dim):
                out.update(dict.fromkeys(d.symbols))
        return tuple(out)

    @property
    def is_concrete(self) -> bool:
        """True when every dim is an int."""
        return not any(isinstance(d, Dim) for d in self)

    def bind(self, binding: Mapping[str, int]) -> tuple[int, ...]:
        """The concrete shape for a binding of the symbols."""
        return tuple(d.evaluate(binding) if isinstance(d, Dim) else d for d in self)

    @property
    def plain(self) -> tuple[int | str, ...]:
        """A plain tuple, each symbolic dim as its canonical text: ``('B*T', 16)``."""
        return tuple(str(d) if isinstance(d, Dim) else d for d in self)

    @property
    def source(self) -> str:
        """Python source for this shape: ``('B*T', 16)``."""
        return repr(self.plain)

    def __getitem__(self, item):  # slicing keeps the Shape type
        r = super().__getitem__(item)
        return Shape(r) if isinstance(item, slice) else r

    def __add__(self, other) -> Shape:
        return Shape(tuple(self) + tuple(other))

    def __radd__(self, other) -> Shape:
        return Shape(tuple(other) + tuple(self))

    def __reduce__(self):
        return (Shape, (tuple(self),))


def definitely_equal(a: DimLike, b: DimLike) -> bool:
    """True when two dims are the same at every binding: equal ints or equal expressions."""
    return type(a) is type(b) and a == b


def same_shape(a: Sequence[DimLike], b: Sequence[DimLike]) -> bool:
    """True when two shapes are the same at every binding (the one shape-equality check)."""
    return len(a) == len(b) and all(map(definitely_equal, a, b))


def broadcast_dims(a: DimLike, b: DimLike) -> DimLike:
    """numpy's rule for one axis: 1 stretches, equal dims match; anything else is unprovable."""
    if definitely_equal(a, b):
        return a
    if definitely_equal(a, 1):
        return b
    if definitely_equal(b, 1):
        return a
    raise ShapeError(f"dims {a} and {b} do not broadcast")


def broadcast_shapes(*shapes: Sequence[DimLike]) -> Shape:
    """numpy broadcasting aligned from the right, with symbolic dims matching only equal
    expressions or 1."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[DimLike] = []
    for i in range(-ndim, 0):
        d: DimLike = 1
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


def numel(dims: Iterable[DimLike]) -> DimLike:
    """The product of dims: an int, or a Dim when a dim is symbolic."""
    out: DimLike = 1
    for d in dims:
        out = out * d
    return out


def static_numel(dims: Iterable[DimLike]) -> int:
    """The product of the int dims only (the static factor of the element count)."""
    return math.prod(d for d in dims if not isinstance(d, Dim))


def prod(dims: Iterable[int]) -> int:
    """Product of concrete dims."""
    return math.prod(dims)


# ------------------------------------------------------------------------- constraints


class Constraint:
    """A condition on the symbols that a shape rule assumed and binding checks:
    ``expr >= 0`` (or ``expr == 0`` when ``equal``), with why (``"slice [:, 3:] needs
    T >= 3"``)."""

    __slots__ = ("expr", "equal", "why")

    def __init__(self, expr: Dim, why: str, equal: bool = False):
        self.expr, self.why, self.equal = expr, why, equal

    def holds(self, binding: Mapping[str, int]) -> bool:
        v = self.expr.evaluate(binding)
        return v == 0 if self.equal else v >= 0

    def __repr__(self) -> str:
        return f"Constraint({self.expr} {'==' if self.equal else '>='} 0: {self.why})"


def at_least(d: DimLike, lo: DimLike, why: str) -> list[Constraint]:
    """``[d >= lo]`` when that is not known for every binding (an int claim that is false
    is a ShapeError now), else ``[]``. ``why`` may hold ``{}``: it is filled with the
    condition in its simplest form (``T >= 2`` for ``T - 1 >= 1``)."""
    diff = d - lo
    why = why.replace("{}", f"{diff - diff.constant} >= {-diff.constant}"
                      if isinstance(diff, Dim) else f"{d} >= {lo}")
    if isinstance(diff, Dim):
        return [] if diff.is_nonnegative() else [Constraint(diff, why)]
    if diff < 0:
        raise ShapeError(why)
    return []


def equal_dims(a: DimLike, b: DimLike, why: str) -> list[Constraint]:
    """``[a == b]`` when that depends on the binding, ``[]`` when it always holds; a
    ShapeError when it never can (two ints, or expressions a constant apart)."""
    diff = a - b
    if isinstance(diff, Dim):
        return [Constraint(diff, why, equal=True)]
    if diff != 0:
        raise ShapeError(why)
    return []


def has_dims(v: Any) -> bool:
    """True when an attribute value holds a Dim (it then needs a binding to compute)."""
    if isinstance(v, Dim):
        return True
    if isinstance(v, (tuple, list)):
        return any(map(has_dims, v))
    if isinstance(v, dict):
        return any(map(has_dims, v.values()))
    return False


def symbols_of(shape: Sequence[DimLike], attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The symbols a node reads: those of its shape and of the Dims in its attributes (a
    slice bound ``S - 1``, an arange's stop), in order of first appearance."""
    out = dict.fromkeys(Shape(shape).symbols)

    def walk(v: Any) -> None:
        if isinstance(v, Dim):
            out.update(dict.fromkeys(v.symbols))
        elif isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(dict(attrs))
    return tuple(out)


def bind_attrs(attrs: dict[str, Any], binding: Mapping[str, int]) -> dict[str, Any]:
    """The attributes with every Dim replaced by its value (what ``compute`` receives)."""
    def bind(v: Any) -> Any:
        if isinstance(v, Dim):
            return v.evaluate(binding)
        if isinstance(v, tuple):
            return tuple(map(bind, v))
        if isinstance(v, list):
            return list(map(bind, v))
        if isinstance(v, dict):
            return {k: bind(x) for k, x in v.items()}
        return v

    return attrs if not has_dims(attrs) else {k: bind(v) for k, v in attrs.items()}


def window_out_size(n: DimLike, kernel: int, stride: int = 1, pad_lo: int = 0,
                    pad_hi: int = 0, dilation: int = 1,
                    ceil_mode: bool = False) -> tuple[DimLike, list[Constraint]]:
    """The number of windows along an axis of size ``n`` (conv and pooling, as torch):
    ``(n + pad_lo + pad_hi - dilation*(kernel - 1) - 1)//stride + 1``, and with
    ``ceil_mode`` the division rounded up, except that a last window starting in the right
    padding is dropped (and, as torch, a single window may hang off the padded end by less
    than the stride). With a symbolic ``n`` the result is a dim expression, and the
    condition that at least one window fits is returned, to be checked when ``n`` is bound.

    Ceil mode stays one expression: with ``c = pad_hi - dilation*(kernel - 1) - 1`` (<= 0
    whenever the padding is at most half the window, as torch requires), the dropped window
    happens exactly when ``-stride < c``, and then the size is ``ceil((n + pad_lo)/stride)``.
    """
    for v, what, lo in ((kernel, "kernel size", 1), (stride, "stride", 1),
                        (pad_lo, "padding", 0), (pad_hi, "padding", 0), (dilation, "dilation", 1)):
        if _as_int(v) is None or v < lo:
            raise ShapeError(f"{what} {v!r} must be an int >= {lo}")
    span = dilation * (kernel - 1) + 1
    room = n + pad_lo + pad_hi - span  # windows - 1, times the stride (before rounding)
    if not ceil_mode:
        why = (f"a window of {span} (kernel {kernel}, dilation {dilation}) needs the padded "
               f"size {n + pad_lo + pad_hi} >= {span}")
        return room // stride + 1, at_least(room, 0, why)
    # ceil mode keeps a window hanging off the padded input's end when it starts inside it
    # (torch): the padded size may fall short of the window by less than the stride
    why = (f"a window of {span} (kernel {kernel}, dilation {dilation}) with stride {stride} in "
           f"ceil mode needs the padded size {n + pad_lo + pad_hi} > {span - stride}")
    needs = at_least(room, 1 - stride, why) + at_least(n + pad_lo, 1, why)
    c = pad_hi - span
    if c <= -stride:
        return (room + stride - 1) // stride + 1, needs
    if c <= 0:
        return (n + pad_lo + stride - 1) // stride, needs
    if isinstance(n, Dim):
        raise ShapeError(f"ceil_mode with padding {pad_hi} larger than half the window "
                         f"{span} on the symbolic size {n} is not supported")
    out = (room + stride - 1) // stride + 1
    return (out - 1 if (out - 1) * stride >= n + pad_lo else out), needs
