"""matmul, with numpy's semantics: batched, batch axes broadcast, 1-D operands promoted; and
the contractions einsum, tensordot, dot, inner, outer and kron, with numpy's semantics."""

from __future__ import annotations

import math
import operator
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import (
    Shape,
    broadcast_dims,
    broadcast_shapes,
    definitely_equal,
    is_symbolic,
    normalize_axis,
    numel,
    same_shape,
)
from graphc.ir.dtypes import probe_dtype
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import apply, call


def matmul(a: Any, b: Any) -> Tensor:
    """a @ b as np.matmul: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes broadcast."""
    return apply("matmul", [a, b])


def _matmul_infer(nodes, attrs):
    a, b = nodes
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul does not take 0-d operands (use multiply for a scalar)")
    sa = a.shape if a.ndim > 1 else Shape((1, *a.shape))  # (k,) -> (1, k)
    sb = b.shape if b.ndim > 1 else Shape((*b.shape, 1))  # (k,) -> (k, 1)
    if not definitely_equal(sa[-1], sb[-2]):
        raise ShapeError(
            f"the contracted dims differ: {a.shape} @ {b.shape} contracts {sa[-1]} with {sb[-2]}"
        )
    try:
        batch = broadcast_shapes(sa[:-2], sb[:-2])
    except ShapeError as e:
        raise ShapeError(f"the batch axes do not broadcast: {e}") from None
    out = list(batch)
    if a.ndim > 1:
        out.append(sa[-2])
    if b.ndim > 1:
        out.append(sb[-1])
    return Shape(out), probe_dtype(np.matmul, a.dtype, b.dtype)


def _matmul_vjp(g, out, x, at, need):
    """With 1-D operands promoted to matrices: dA = G @ B^T, dB = A^T @ G.

    The batch axes of dA and dB are the broadcast batch axes of the output; the driver sums
    them back to each operand's shape (e.g. W in (B, n, k) @ (k, m) gets a sum over B).
    """
    from graphc.ops.shape import expand_dims, squeeze, swapaxes

    a, b = x
    A = a if a.ndim > 1 else expand_dims(a, 0)
    Bm = b if b.ndim > 1 else expand_dims(b, -1)
    if a.ndim == 1 and b.ndim == 1:
        G = expand_dims(g, (0, 1))  # () -> (1, 1)
    elif a.ndim == 1:
        G = expand_dims(g, -2)  # (..., m) -> (..., 1, m)
    elif b.ndim == 1:
        G = expand_dims(g, -1)  # (..., n) -> (..., n, 1)
    else:
        G = g
    ga = gb = None
    if need[0]:
        ga = matmul(G, swapaxes(Bm, -1, -2))
        if a.ndim == 1:  # (..., 1, k): drop the promoted axis, the driver sums the rest
            ga = squeeze(ga, -2)
    if need[1]:
        gb = matmul(swapaxes(A, -1, -2), G)
        if b.ndim == 1:  # (..., k, 1)
            gb = squeeze(gb, -1)
    return [ga, gb]


#: two matrices of the result's dtype: ``np.dot`` (less call overhead than np.matmul)
_DOT = Kernel("dot", lambda n, ins, prog: all(m.ndim == 2 and m.dtype == n.dtype for m in ins),
              call("xp.dot", out=True))

register(OpDef(
    name="matmul", kind="matmul", infer=_matmul_infer,
    compute=lambda args, attrs, shape: np.matmul(*args),
    emit=call("xp.matmul", out=True), vjp=_matmul_vjp, out=True, doc=matmul.__doc__, arity=2,
    infix="@", kernels=(_DOT,),
))


# ============================================================================ contractions
#
# Their kind is "reduction" (a sum of products), not "matmul": the broadcast lint reads a
# "matmul" node's operands as matmul's (batch..., n, k), which these are not.
#
# einsum, tensordot, dot, inner: each node is a contraction written as einsum subscripts
# (einsum's canonical attribute; the others' from their ranks and axes), computed and lowered
# by one rule (``_contraction_compute``, ``_contraction_emit``: ``contract2`` for two float
# operands, else ``np.einsum``) and differentiated by one rule (``_contraction_vjp``: the vjp
# of each operand is another einsum). outer and kron are numpy's own functions; their
# gradients are einsums over reshapes.

_KIND = "reduction"
#: the canonical letters, in the order they are handed out
_CANON = string.ascii_lowercase + string.ascii_uppercase
#: numpy's letters for the ints of the sublist form ``einsum(a, [0, 1], b, [1, 2])``
_SUBLIST = string.ascii_uppercase + string.ascii_lowercase
#: a contraction over more points than this (the product of every index's size) is run with
#: ``optimize=True`` when numpy's einsum computes it: below, numpy's C loop beats the ~30 us
#: that einsum's path search and BLAS calls cost (measured on (B, T, d) x (d, e),
#: (n, n) x (n, n) and attention-shaped batched products: the two cross between 5e4 and 1e5)
OPTIMIZE_ABOVE = 65536


def _term(text: str, k: int | None) -> tuple[str, bool, str]:
    """One term of the subscripts: (letters before ``...``, has ``...``, letters after)."""
    where = "the output" if k is None else f"operand {k}'s term"
    if text.count(".") not in (0, 3) or (text.count(".") == 3 and "..." not in text):
        raise ValueError(f"{where} {text!r} has a '.' that is not part of one '...'")
    pre, ell, post = text.partition("...")
    bad = sorted({c for c in pre + post if c not in _CANON})
    if bad:
        raise ValueError(f"{where} {text!r} holds {bad[0]!r}: einsum indices are the letters "
                         "a-z and A-Z")
    return pre, bool(ell), post


def parse_subscripts(subscripts: Any, ranks: Sequence[int]) -> str:
    """numpy's einsum subscripts for operands of ``ranks`` in canonical form: explicit
    (``->`` and the output numpy's implicit mode gives: the indices that appear once, sorted,
    after the ``...`` axes), every ``...`` written out as letters, and the letters renamed
    ``a, b, c, ...`` in order of first appearance. ``"ij,jk"`` is ``"ab,bc->ac"``."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum subscripts must be a str, got {type(subscripts).__name__}")
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    if "-" in lhs + rhs or ">" in lhs + rhs:
        raise ValueError(f"subscripts {subscripts!r}: '-' and '>' appear only as one '->'")
    parts = lhs.split(",")
    if len(parts) != len(ranks):
        raise ValueError(f"subscripts {subscripts!r} name {len(parts)} operand(s), "
                         f"{len(ranks)} given")
    terms = [_term(t, k) for k, t in enumerate(parts)]
    spans = []  # the number of axes each operand's ``...`` covers
    for k, ((pre, ell, post), rank) in enumerate(zip(terms, ranks)):
        named = len(pre) + len(post)
        if named > rank or (not ell and named != rank):
            raise ShapeError(f"operand {k} has rank {rank}, its subscripts {parts[k]!r} name "
                             f"{named} ax{'i' if named == 1 else 'e'}s")
        spans.append(rank - named if ell else 0)
    out_term = _term(rhs, None) if arrow else None
    used = {c for pre, _, post in terms for c in pre + post}
    if out_term is not None:
        used.update(out_term[0] + out_term[2])
    free = [c for c in _CANON if c not in used]
    span = max(spans, default=0)
    if span > len(free):
        raise ValueError(f"subscripts {subscripts!r} need more than {len(_CANON)} indices")
    ell_letters = "".join(free[:span])  # the ``...`` axes, aligned on the right
    ins = [pre + ell_letters[span - s:] + post for (pre, _, post), s in zip(terms, spans)]
    if out_term is None:
        counts = Counter(c for pre, _, post in terms for c in pre + post)
        out = ell_letters + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        pre, ell, post = out_term
        if span and not ell:
            raise ValueError(f"subscripts {subscripts!r}: the output has no '...', but the "
                             f"operands' '...' cover {span} ax{'i' if span == 1 else 'e'}s")
        out = pre + ell_letters + post
        seen = set("".join(ins))
        for c in out:
            if c not in seen:
                raise ValueError(f"subscripts {subscripts!r}: output index {c!r} appears in "
                                 "no operand")
        if len(set(out)) != len(out):
            c = next(c for c in out if out.count(c) > 1)
            raise ValueError(f"subscripts {subscripts!r}: the output repeats index {c!r}")
    rename: dict[str, str] = {}
    for c in "".join(ins):
        rename.setdefault(c, _CANON[len(rename)])
    return ",".join("".join(rename[c] for c in t) for t in ins) + "->" + "".join(
        rename[c] for c in out)


def _sublist_subscripts(args: Sequence[Any]) -> tuple[str, list]:
    """numpy's sublist form ``(a, [0, 1], b, [1, 2][, [0, 2]])`` as (subscripts, operands)."""
    def letters(sub: Any, what: str) -> str:
        if isinstance(sub, (str, bytes, Tensor)) or not hasattr(sub, "__iter__"):
            raise TypeError(f"einsum: {what} must be a list of ints and Ellipsis (numpy's "
                            f"sublist form), got {sub!r}")
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
                continue
            if isinstance(s, bool) or not hasattr(s, "__index__"):
                raise TypeError(f"einsum: {what} holds {s!r}; a sublist holds ints and Ellipsis")
            i = int(s.__index__())
            if not 0 <= i < len(_SUBLIST):
                raise ValueError(f"einsum: {what} holds {i}; sublist indices are ints in "
                                 f"[0, {len(_SUBLIST)})")
            out.append(_SUBLIST[i])
        return "".join(out)

    operands = list(args[0::2])
    subs = list(args[1::2])
    out = None
    if len(args) % 2:  # an output sublist after the last pair
        out = operands.pop()
        out = letters(out, "the output sublist")
    text = ",".join(letters(s, f"the sublist of operand {k}") for k, s in enumerate(subs))
    return text + ("" if out is None else "->" + out), operands


def einsum(subscripts: Any, *operands: Any) -> Tensor:
    """numpy's einsum: ``gc.einsum("btd,de->bte", x, W)``, implicit output (``"ij,jk"``),
    traces and diagonals (``"ii"``, ``"ii->i"``), sums, outer products, ``...``, and numpy's
    sublist form ``gc.einsum(a, [0, 1], b, [1, 2])``. As numpy, an index of size 1 in one
    operand broadcasts against the others; within one operand a repeated index needs equal
    sizes. The node stores the subscripts in canonical form: explicit, ``...`` written out,
    letters renamed in order of first appearance (``"ij,jk"`` is ``"ab,bc->ac"``).

    Lowered to a batched matmul (BLAS) for two float operands that contract an index, else
    to ``np.einsum`` (``optimize=True`` above ``OPTIMIZE_ABOVE`` points). The gradient of each
    operand is another einsum."""
    if not isinstance(subscripts, str):
        subscripts, ops = _sublist_subscripts((subscripts, *operands))
        operands = tuple(ops)
    if not operands:
        raise TypeError("einsum needs at least one operand")
    return apply("einsum", list(operands), subscripts=subscripts)


def _split(sub: str) -> tuple[list[str], str]:
    ins, out = sub.split("->")
    return ins.split(","), out


def letter_sizes(ins: Sequence[str], shapes: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Each index's size: equal within an operand, broadcast (numpy: 1 stretches) across
    operands; ShapeError naming the operands and axes otherwise."""
    sizes: dict[str, Any] = {}
    where: dict[str, tuple[int, int]] = {}
    for k, (term, shape) in enumerate(zip(ins, shapes)):
        mine: dict[str, int] = {}
        for ax, (c, d) in enumerate(zip(term, shape)):
            if c in mine:
                if not definitely_equal(shape[mine[c]], d):
                    raise ShapeError(f"operand {k} repeats index {c!r} on axes {mine[c]} and "
                                     f"{ax} of sizes {shape[mine[c]]} and {d}; a diagonal "
                                     "needs equal sizes")
                continue
            mine[c] = ax
            if c not in sizes:
                sizes[c], where[c] = d, (k, ax)
                continue
            try:
                sizes[c] = broadcast_dims(sizes[c], d)
            except ShapeError:
                j, bx = where[c]
                raise ShapeError(f"index {c!r} has size {sizes[c]} (operand {j}, axis {bx}) "
                                 f"and {d} (operand {k}, axis {ax}); sizes of one index must "
                                 "be equal or 1") from None
    return sizes


def _normalize_einsum(nodes, attrs):
    if not nodes:
        raise TypeError("einsum needs at least one operand")
    return {"subscripts": parse_subscripts(attrs["subscripts"], [n.ndim for n in nodes])}


def _einsum_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    return probe_dtype(lambda *xs: np.einsum(",".join("a" * len(xs)) + "->a", *xs), *dtypes)


def _einsum_infer(nodes, attrs):
    ins, out = _split(attrs["subscripts"])
    sizes = letter_sizes(ins, [n.shape for n in nodes])
    return Shape(sizes[c] for c in out), _einsum_dtype([n.dtype for n in nodes])


# ----------------------------------------------------------------------------- lowering


def bmm_plan(ins: Sequence[str], out: str, dtypes: Sequence[np.dtype]) -> tuple | None:
    """How ``contract2`` computes a two-operand contraction as one (batched) matmul, or None
    (more or fewer operands, not both float32/float64, a repeated index within an operand,
    no index contracted). Depends on the subscripts and dtypes only, never on sizes, so the
    reference ``compute`` and the generated code take the same path for every binding.

    The plan: ``(swap, sum_a, sum_b, perm_a, perm_b, nbatch, nfree, out_perm)`` (None for a
    permutation that changes nothing). Indices only one operand has and the output lacks
    are summed first (``sum_a``, ``sum_b``); then ``a`` goes to (batch, free_a, contracted),
    ``b`` to (batch, contracted, free_b), the contracted axes and each free group flattened,
    one ``matmul``, and the result reshaped and, when the output orders its axes otherwise,
    transposed (``out_perm``). ``swap`` exchanges the operands so that the output's order
    needs no transpose when possible.
    """
    if len(ins) != 2 or any(np.dtype(d) not in _BLAS for d in dtypes):
        return None
    a, b = ins
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        return None
    sum_a = tuple(i for i, c in enumerate(a) if c not in b and c not in out)
    sum_b = tuple(i for i, c in enumerate(b) if c not in a and c not in out)
    a = "".join(c for i, c in enumerate(a) if i not in sum_a)
    b = "".join(c for i, c in enumerate(b) if i not in sum_b)
    contracted = [c for c in a if c in b and c not in out]
    if not contracted:
        return None
    batch = [c for c in out if c in a and c in b]
    free_a = [c for c in out if c in a and c not in b]
    free_b = [c for c in out if c in b and c not in a]
    swap = "".join(batch + free_a + free_b) != out and "".join(batch + free_b + free_a) == out
    if swap:
        a, b, free_a, free_b = b, a, free_b, free_a
    order = batch + free_a + free_b
    out_perm = None if "".join(order) == out else tuple(order.index(c) for c in out)
    perm_a = tuple(a.index(c) for c in batch + free_a + contracted)
    perm_b = tuple(b.index(c) for c in batch + contracted + free_b)
    return (swap, sum_a, sum_b, _unless_identity(perm_a), _unless_identity(perm_b),
            len(batch), len(free_a), out_perm)


def _unless_identity(perm: tuple[int, ...]) -> tuple[int, ...] | None:
    return None if perm == tuple(range(len(perm))) else perm


_BLAS = (np.dtype(np.float32), np.dtype(np.float64))


def contract2(plan: tuple, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None):
    """Run a ``bmm_plan``: a two-operand contraction as one numpy ``matmul`` (``dot`` when
    there is no batch axis: less call overhead), both BLAS for float32/float64.

    An index of size 1 on one side only (numpy's einsum broadcasts it): a batch index is
    broadcast by matmul; a contracted one is summed out of the other side first."""
    swap, sum_a, sum_b, perm_a, perm_b, nb, nfree, out_perm = plan
    if sum_a:
        a = np.add.reduce(a, axis=sum_a)
    if sum_b:
        b = np.add.reduce(b, axis=sum_b)
    if swap:
        a, b = b, a
    if perm_a is not None:
        a = a.transpose(perm_a)
    if perm_b is not None:
        b = b.transpose(perm_b)
    nc = a.ndim - nb - nfree
    ca, cb = a.shape[nb + nfree:], b.shape[nb:nb + nc]
    if ca != cb:  # a contracted index of size 1 on one side: sum it out of the other first
        ra = tuple(nb + nfree + i for i in range(nc) if cb[i] == 1 != ca[i])
        rb = tuple(nb + i for i in range(nc) if ca[i] == 1 != cb[i])
        if ra:
            a = np.add.reduce(a, axis=ra, keepdims=True)
        if rb:
            b = np.add.reduce(b, axis=rb, keepdims=True)
    batch_a, free_a = a.shape[:nb], a.shape[nb:nb + nfree]
    batch_b, free_b = b.shape[:nb], b.shape[nb + nc:]
    k = math.prod(a.shape[nb + nfree:])
    m, n = math.prod(free_a), math.prod(free_b)
    a2 = a.reshape(batch_a + (m, k))
    b2 = b.reshape(batch_b + (k, n))
    mul = np.matmul if nb else np.dot
    if out is not None and out_perm is None and out.flags.c_contiguous:
        mul(a2, b2, out=out.reshape(out.shape[:nb] + (m, n)))
        return out
    c = mul(a2, b2)
    c = c.reshape(c.shape[:nb] + free_a + free_b)
    if out_perm is not None:
        c = c.transpose(out_perm)
    if out is not None:
        out[...] = c
        return out
    return c


def _optimize(ins: Sequence[str], out: str, sizes: dict[str, Any], dtype: np.dtype):
    """numpy einsum's ``optimize`` for this contraction: False, or the sizes whose product
    decides it (above ``OPTIMIZE_ABOVE`` points: True)."""
    if len(ins) < 2 or np.dtype(dtype) not in _BLAS or not (set("".join(ins)) - set(out)):
        return False
    return [sizes[c] for c in sizes]


def _is_view(ins: Sequence[str], out: str) -> bool:
    """One operand and nothing summed: numpy's einsum returns a view (a transpose, a
    diagonal) of the operand; the result is copied so it owns its memory."""
    return len(ins) == 1 and set(ins[0]) == set(out)


def _contraction_compute(sub: str, args: Sequence[np.ndarray]):
    ins, out = _split(sub)
    plan = bmm_plan(ins, out, [x.dtype for x in args])
    if plan is not None:
        return contract2(plan, *args)
    sizes = letter_sizes(ins, [x.shape for x in args])
    opt = _optimize(ins, out, sizes, np.result_type(*args))
    if opt is not False:
        opt = math.prod(opt) > OPTIMIZE_ABOVE
    r = np.einsum(sub, *args, optimize=opt)
    return np.array(r) if _is_view(ins, out) else r


def _contraction_emit(sub: str, args: list[str], ctx: Any) -> str:
    ins, out = _split(sub)
    o = f", out={ctx.out}" if ctx.out is not None else ""
    plan = bmm_plan(ins, out, [n.dtype for n in ctx.inputs])
    if plan is not None:
        return f"{ctx.ref(contract2, 'contract')}({ctx.ref(plan, 'plan')}, {', '.join(args)}{o})"
    sizes = letter_sizes(ins, [n.shape for n in ctx.inputs])
    opt = _optimize(ins, out, sizes, ctx.node.dtype)
    if opt is not False:
        static = math.prod(d for d in opt if not is_symbolic(d))
        syms = [d for d in opt if is_symbolic(d)]
        opt = (repr(static > OPTIMIZE_ABOVE) if not syms or static == 0 else
               f"({' * '.join(ctx.dim(d) for d in syms)} * {static} > {OPTIMIZE_ABOVE})")
    code = f"xp.einsum({ctx.ref(sub, 'sub')}, {', '.join(args)}, optimize={opt}{o})"
    return code + ".copy()" if o == "" and _is_view(ins, out) else code


# --------------------------------------------------------------------------------- vjp


def _eye(graph: Any, n: Any, dtype: np.dtype) -> Tensor:
    """The identity matrix of size ``n`` (an int: a constant; a dim: built per binding)."""
    from graphc.ops.creation import tril, triu

    if not is_symbolic(n):
        return graph.constant(np.eye(n, dtype=dtype))
    return tril(triu(graph.ones((n, n), dtype)))


def _contraction_vjp(ins: Sequence[str], out: str, g: Tensor, x: Sequence[Tensor],
                     need: Sequence[bool]) -> list:
    """The vjp of the contraction ``ins -> out``: for operand k, the einsum of the cotangent
    and the other operands onto k's indices. An index only k has (summed in the forward) is
    broadcast back; one that broadcast from size 1 is stretched to its size (the driver sums
    it back to k's 1); an index k repeats (a diagonal) gets the gradient on its diagonal
    through an identity matrix."""
    from graphc.ops.shape import broadcast_to, expand_dims, transpose

    sizes = letter_sizes(ins, [t.shape for t in x])
    grads: list = []
    for k, term in enumerate(ins):
        if not need[k]:
            grads.append(None)
            continue
        uniq = "".join(dict.fromkeys(term))
        others = [(s, t) for j, (s, t) in enumerate(zip(ins, x)) if j != k]
        have = set(out).union(*(set(s) for s, _ in others))
        keep = "".join(c for c in uniq if c in have)
        if not others and sorted(out) == sorted(keep):
            G = g if out == keep else transpose(g, tuple(out.index(c) for c in keep))
        else:
            subs = ",".join([out] + [s for s, _ in others])
            G = einsum(f"{subs}->{keep}", g, *[t for _, t in others])
        missing = tuple(i for i, c in enumerate(uniq) if c not in have)
        if missing:
            G = expand_dims(G, missing)
        want = Shape(sizes[c] for c in uniq)
        if not same_shape(G.shape, want):
            G = broadcast_to(G, want)
        if len(uniq) != len(term):  # a diagonal: G on it through identity matrices
            pool = iter(c for c in _CANON if c not in uniq)
            full, eyes, seen = [], [], set()
            for c in term:
                if c in seen:
                    fresh = next(pool)
                    full.append(fresh)
                    eyes.append(c + fresh)
                else:
                    seen.add(c)
                    full.append(c)
            ids = [_eye(g.graph, sizes[e[0]], g.dtype) for e in eyes]
            G = einsum(f"{','.join([uniq, *eyes])}->{''.join(full)}", G, *ids)
        grads.append(G)
    return grads


def _einsum_vjp(g, out, x, at, need):
    ins, o = _split(at["subscripts"])
    return _contraction_vjp(ins, o, g, x, need)


register(OpDef(
    name="einsum", kind=_KIND, infer=_einsum_infer,
    compute=lambda args, attrs, shape: _contraction_compute(attrs["subscripts"], args),
    emit=lambda args, attrs, ctx: _contraction_emit(attrs["subscripts"], args, ctx),
    vjp=_einsum_vjp, arity=None, normalize=_normalize_einsum, out=True,
    attrs=("subscripts",), doc=einsum.__doc__,
))


# ------------------------------------------------------------------ tensordot, dot, inner


def _letters(n: int, start: int = 0) -> str:
    if start + n > len(_CANON):
        raise ShapeError(f"a contraction over {start + n} axes: at most {len(_CANON)}")
    return _CANON[start:start + n]


def _def_contraction(name: str, spec, check, np_fn, builder, attrs=(), normalize=None) -> None:
    """Register a two-operand contraction whose ``spec(a_ndim, b_ndim, attrs)`` gives its
    einsum subscripts; ``check(a, b, attrs)`` raises a ShapeError for sizes that do not
    contract (numpy's functions never broadcast a contracted axis)."""

    def sub_of(nodes_or_arrays, attrs):
        a, b = nodes_or_arrays
        return spec(a.ndim, b.ndim, attrs)

    def infer(nodes, attrs):
        a, b = nodes
        check(a.shape, b.shape, attrs)
        ins, out = _split(sub_of(nodes, attrs))
        sizes = letter_sizes(ins, [a.shape, b.shape])
        dtype = probe_dtype(lambda x, y: np_fn(x, y), a.dtype, b.dtype)
        return Shape(sizes[c] for c in out), dtype

    def vjp(g, out, x, at, need):
        ins, o = _split(sub_of(x, at))
        return _contraction_vjp(ins, o, g, x, need)

    register(OpDef(
        name=name, kind=_KIND, infer=infer,
        compute=lambda args, attrs, shape: _contraction_compute(sub_of(args, attrs), args),
        emit=lambda args, attrs, ctx: _contraction_emit(sub_of(ctx.inputs, attrs), args, ctx),
        vjp=vjp, arity=2, normalize=normalize, out=True, attrs=attrs, doc=builder.__doc__,
    ))


def _need_equal(what: str, da: Any, db: Any) -> None:
    if not definitely_equal(da, db):
        raise ShapeError(f"{what}: sizes {da} and {db} differ")


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """numpy's tensordot: the sum of products over ``axes``: an int ``N`` (the last N axes of
    ``a`` with the first N of ``b``) or a pair of axis sequences ``([1, 0], [0, 1])``. The
    result has ``a``'s remaining axes, then ``b``'s. Contracted sizes must be equal."""
    return apply("tensordot", [a, b], axes=axes)


def _index(v: Any) -> int | None:
    """``v`` as an int when it is one (numpy ints and 0-d int arrays too; not a bool)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def _axis_seq(v: Any, ndim: int, what: str) -> tuple[int, ...]:
    if isinstance(v, (bool, np.bool_, str)):
        raise TypeError(f"tensordot {what} {v!r} is not an axis or a sequence of axes")
    if _index(v) is not None:
        return (normalize_axis(_index(v), ndim, f"tensordot {what}"),)
    try:
        items = list(v)
    except TypeError:
        raise TypeError(f"tensordot {what} {v!r} is not an axis or a sequence of axes") from None
    return tuple(normalize_axis(x, ndim, f"tensordot {what}") for x in items)


def _normalize_tensordot(nodes, attrs):
    """axes -> ((a's axes), (b's axes)): non-negative, the pairs sorted by a's axis."""
    a, b = nodes
    axes = attrs["axes"]
    if isinstance(axes, (bool, np.bool_, str)):
        raise TypeError(f"tensordot axes {axes!r} is not an int or a pair of axis sequences")
    if _index(axes) is not None:
        n = _index(axes)
        if not 0 <= n <= min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot axes={n} needs 0 <= axes <= the operands' ranks "
                             f"({a.ndim} and {b.ndim})")
        xa, xb = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise TypeError(f"tensordot axes {axes!r} is not an int or a pair of axis "
                            "sequences") from None
        xa, xb = _axis_seq(first, a.ndim, "axis of a"), _axis_seq(second, b.ndim, "axis of b")
        if len(xa) != len(xb):
            raise ShapeError(f"tensordot axes {axes!r} pair {len(xa)} axes of a with "
                             f"{len(xb)} of b")
        for what, xs in (("a", xa), ("b", xb)):
            if len(set(xs)) != len(xs):
                raise ShapeError(f"tensordot axes {axes!r} repeat an axis of {what}")
    pairs = sorted(zip(xa, xb))
    return {"axes": (tuple(p for p, _ in pairs), tuple(q for _, q in pairs))}


def _tensordot_spec(nda: int, ndb: int, attrs) -> str:
    xa, xb = attrs["axes"]
    la = _letters(nda)
    lb = list(_letters(ndb, nda))
    for p, q in zip(xa, xb):
        lb[q] = la[p]
    out = [c for i, c in enumerate(la) if i not in xa] + [c for i, c in enumerate(lb)
                                                           if i not in xb]
    return f"{la},{''.join(lb)}->{''.join(out)}"


def _tensordot_check(sa, sb, attrs):
    for p, q in zip(*attrs["axes"]):
        _need_equal(f"tensordot contracts axis {p} of a with axis {q} of b", sa[p], sb[q])


_def_contraction("tensordot", _tensordot_spec, _tensordot_check,
                 lambda x, y: np.tensordot(x, y, 1), tensordot, attrs=("axes",),
                 normalize=_normalize_tensordot)


def dot(a: Any, b: Any) -> Tensor:
    """numpy's dot: a 0-d operand multiplies; otherwise the sum of products over the last
    axis of ``a`` and the second-to-last of ``b`` (its only one when 1-D):
    ``dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])``; result axes: ``a``'s others,
    then ``b``'s. Two matrices: a matrix product; two vectors: their inner product."""
    return apply("dot", [a, b])


def _dot_spec(nda: int, ndb: int, attrs) -> str:
    if nda == 0 or ndb == 0:
        la, lb = _letters(nda), _letters(ndb, nda)
        return f"{la},{lb}->{la + lb}"
    la = _letters(nda)
    rest = _letters(ndb - 1, nda)
    if ndb == 1:
        lb = la[-1]
    else:
        lb = rest[:-1] + la[-1] + rest[-1]
    return f"{la},{lb}->{la[:-1] + rest}"


def _dot_check(sa, sb, attrs):
    if len(sa) and len(sb):
        axis = -1 if len(sb) == 1 else -2
        _need_equal(f"dot contracts the last axis of a with axis {axis} of b", sa[-1], sb[axis])


_def_contraction("dot", _dot_spec, _dot_check, np.dot, dot)


def inner(a: Any, b: Any) -> Tensor:
    """numpy's inner: a 0-d operand multiplies; otherwise the sum of products over the last
    axes of ``a`` and ``b``; result axes: ``a``'s others, then ``b``'s."""
    return apply("inner", [a, b])


def _inner_spec(nda: int, ndb: int, attrs) -> str:
    if nda == 0 or ndb == 0:
        return _dot_spec(nda, ndb, attrs)
    la = _letters(nda)
    rest = _letters(ndb - 1, nda)
    return f"{la},{rest + la[-1]}->{la[:-1] + rest}"


def _inner_check(sa, sb, attrs):
    if len(sa) and len(sb):
        _need_equal("inner contracts the last axes of a and b", sa[-1], sb[-1])


_def_contraction("inner", _inner_spec, _inner_check, np.inner, inner)


# ---------------------------------------------------------------------------- outer, kron


def outer(a: Any, b: Any) -> Tensor:
    """numpy's outer: ``a`` and ``b`` flattened, ``out[i, j] = a.ravel()[i] * b.ravel()[j]``
    (shape ``(a.size, b.size)``)."""
    return apply("outer", [a, b])


def _outer_infer(nodes, attrs):
    a, b = nodes
    return (Shape((numel(a.shape), numel(b.shape))),
            probe_dtype(np.outer, a.dtype, b.dtype))


def _flat(x: Tensor) -> Tensor:
    from graphc.ops.shape import reshape

    return x if x.ndim == 1 else reshape(x, (numel(x.shape),))


def _outer_vjp(g, out, x, at, need):
    from graphc.ops.shape import reshape

    a, b = x
    ga = gb = None
    if need[0]:
        ga = einsum("ij,j->i", g, _flat(b))
        ga = ga if a.ndim == 1 else reshape(ga, a.shape)
    if need[1]:
        gb = einsum("ij,i->j", g, _flat(a))
        gb = gb if b.ndim == 1 else reshape(gb, b.shape)
    return [ga, gb]


register(OpDef(
    name="outer", kind=_KIND, infer=_outer_infer,
    compute=lambda args, attrs, shape: np.outer(*args),
    emit=call("xp.outer", out=True), vjp=_outer_vjp, arity=2, out=True, doc=outer.__doc__,
))


def kron(a: Any, b: Any) -> Tensor:
    """numpy's kron, the Kronecker product: the operand of lower rank gets leading axes of
    size 1, then ``out.shape[i] = a.shape[i] * b.shape[i]`` and
    ``out[..., i*n + k, ...] = a[..., i, ...] * b[..., k, ...]`` on every axis."""
    return apply("kron", [a, b])


def _padded(a: Any, b: Any) -> tuple[Shape, Shape]:
    n = max(len(a), len(b))
    return Shape((1,) * (n - len(a)) + tuple(a)), Shape((1,) * (n - len(b)) + tuple(b))


def _kron_infer(nodes, attrs):
    a, b = nodes
    sa, sb = _padded(a.shape, b.shape)
    return Shape(x * y for x, y in zip(sa, sb)), probe_dtype(np.kron, a.dtype, b.dtype)


def _kron_vjp(g, out, x, at, need):
    """g viewed as (a0, b0, a1, b1, ...): each operand's gradient is an einsum of it with
    the other operand (padded to the common rank), reshaped back."""
    from graphc.ops.shape import reshape

    a, b = x
    sa, sb = _padded(a.shape, b.shape)
    n = len(sa)
    if 2 * n > len(_CANON):
        raise ShapeError(f"the gradient of kron of rank {n} needs {2 * n} einsum indices, "
                         f"at most {len(_CANON)}")
    la, lb = _letters(n), _letters(n, n)
    both = "".join(p + q for p, q in zip(la, lb))
    G = reshape(g, tuple(d for pair in zip(sa, sb) for d in pair))
    A = a if a.ndim == n else reshape(a, sa)
    Bt = b if b.ndim == n else reshape(b, sb)
    ga = gb = None
    if need[0]:
        ga = einsum(f"{both},{lb}->{la}", G, Bt)
        ga = ga if a.ndim == n else reshape(ga, a.shape)
    if need[1]:
        gb = einsum(f"{both},{la}->{lb}", G, A)
        gb = gb if b.ndim == n else reshape(gb, b.shape)
    return [ga, gb]


register(OpDef(
    name="kron", kind=_KIND, infer=_kron_infer,
    compute=lambda args, attrs, shape: np.kron(*args),
    emit=call("xp.kron"), vjp=_kron_vjp, arity=2, doc=kron.__doc__,
))


#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "dot",
    "einsum",
    "inner",
    "kron",
    "matmul",
    "outer",
    "tensordot",
]
