"""Broadcast diagnostics (graphc/passes/lint.py): a corpus of buggy and correct snippets.

Each buggy snippet marks the line that builds the offending node with ``# <- bug``; the
warning must be a ``gc.ShapeWarning`` attributed to exactly that file and line, name the
operand shapes, the result and a fix, and turn into a ``gc.ShapeError`` (same message, plus
the line) in a ``Graph(strict=True)``. Correct snippets must stay silent, in strict mode too.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.ir import opdef as registry
from graphc.ir.graph import BUILD_CHECKS
from graphc.passes import lint

HERE = __file__


def marked_line(fn, mark: str = "# <- bug") -> int:
    """The absolute line number of the line in ``fn``'s source that ends with ``mark``."""
    lines, start = inspect.getsourcelines(fn)
    hits = [start + k for k, text in enumerate(lines) if text.rstrip().endswith(mark)]
    assert len(hits) == 1, f"{fn.__name__}: expected one {mark!r} line"
    return hits[0]


def shape_warnings(record) -> list[warnings.WarningMessage]:
    return [w for w in record if issubclass(w.category, gc.ShapeWarning)]


def build(fn, strict: bool = False):
    """Run snippet ``fn`` on a fresh graph, recording every warning."""
    g = gc.Graph(fn.__name__, strict=strict)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn(g)
    return shape_warnings(record)


# ------------------------------------------------------------------------- buggy corpus
# Each returns nothing; the marked line builds the node that must be flagged.


def bug_column_minus_flat_target(g):
    pred = g.input("pred", ("B", 1))
    y = g.input("y", ("B",))
    gc.mean((pred - y) ** 2)  # <- bug


def bug_flat_minus_column(g):
    pred = g.input("pred", ("B",))
    y = g.input("y", ("B", 1))
    pred - y  # <- bug


def bug_row_times_column(g):
    r = g.input("r", (1, "B"))
    c = g.input("c", ("B", 1))
    r * c  # <- bug


def bug_seed_bias(g):
    # the project's origin story: column vectors (B, n, 1), a bias of shape (n,)
    x = g.input("x", ("B", 16, 1))
    W = g.param("W", np.zeros((16, 16)))
    b = g.param("b", np.zeros(16))
    gc.tanh(W @ x + b)  # <- bug


def bug_symbolic_bias(g):
    x = g.input("x", ("B", "n", 1))
    b = g.input("b", ("n",))
    x + b  # <- bug


def bug_keepdims_minus_flat(g):
    h = g.input("h", ("B", 16))
    y = g.input("y", ("B",))
    h.sum(axis=1, keepdims=True) - y  # <- bug


def bug_linear_head_minus_flat(g):
    h = g.input("h", ("B", 8))
    w = g.param("w", np.zeros((8, 1)))
    y = g.input("y", ("B",))
    gc.mean(gc.square(h @ w - y))  # <- bug


def bug_comparison(g):
    score = g.input("score", ("B", 1))
    thresh = g.input("thresh", ("B",))
    _ = score > thresh  # <- bug


def bug_where(g):
    mask = g.input("mask", ("B", 1), dtype=bool)
    y = g.input("y", ("B",))
    gc.where(mask, y, 0.0)  # <- bug


def bug_maximum(g):
    a = g.input("a", ("B", 1))
    b = g.input("b", ("B",))
    gc.maximum(a, b)  # <- bug


def bug_array_constant_bias(g):
    x = g.input("x", ("B", 4, 1))
    x * np.ones(4)  # <- bug


def bug_divide_by_norm(g):
    x = g.input("x", ("B", 3, 1))
    norm = g.param("norm", np.ones(3))
    x / norm  # <- bug


def bug_matmul_batch_axes(g):
    a = g.input("a", ("B", 1, 3, 4))
    b = g.input("b", ("B", 4, 5))
    a @ b  # <- bug


def bug_only_one_side_explicit(g):
    # the row is written out, but the column's 1 comes from a matmul: not both intended
    y = g.input("y", ("B",))
    h = g.input("h", ("B", 8))
    w = g.param("w", np.zeros((8, 1)))
    gc.expand_dims(y, 0) * (h @ w)  # <- bug


def bug_constant_on_left(g):
    y = g.input("y", ("B",))
    p = g.input("p", ("B", 1))
    1.0 - y + p  # <- bug


BUGGY = [
    # (snippet, fragments the message must contain: operand shapes, result, probable fix)
    (bug_column_minus_flat_target,
     ["subtract", "pred (B, 1) - y (B,)", "(B, B)", "symbol B", "y with shape (B, 1)",
      "gc.reshape(y, ('B', 1))", "gc.expand_dims"]),
    (bug_flat_minus_column, ["pred (B,) - y (B, 1)", "(B, B)", "pred with shape (B, 1)"]),
    (bug_row_times_column, ["r (1, B) * c (B, 1)", "(B, B)", "with shape"]),
    (bug_seed_bias,
     ["add", "(B, 16, 1) + b (16,)", "(B, 16, 16)", "bias bug", "b with shape (16, 1)",
      "gc.reshape(b, (16, 1))", "the result is then (B, 16, 1)", "gc.expand_dims(b, (0, 1))"]),
    (bug_symbolic_bias, ["x (B, n, 1) + b (n,)", "(B, n, n)", "b with shape (n, 1)"]),
    (bug_keepdims_minus_flat, ["(B, 1) - y (B,)", "(B, B)", "y with shape (B, 1)"]),
    (bug_linear_head_minus_flat, ["(B, 1) - y (B,)", "(B, B)", "y with shape (B, 1)"]),
    (bug_comparison, ["greater", "score (B, 1) > thresh (B,)", "thresh with shape (B, 1)"]),
    (bug_where, ["where(mask (B, 1), y (B,), ())", "(B, B)", "y with shape (B, 1)"]),
    (bug_maximum, ["maximum(a (B, 1), b (B,))", "(B, B)", "b with shape (B, 1)"]),
    (bug_array_constant_bias,
     ["x (B, 4, 1) * (4,)", "(B, 4, 4)", "the right operand (4,) with shape (4, 1)",
      "gc.reshape(t, (4, 1))"]),
    (bug_divide_by_norm, ["x (B, 3, 1) / norm (3,)", "(B, 3, 3)", "norm with shape (3, 1)"]),
    (bug_matmul_batch_axes,
     ["batch axes of a (B, 1) @ b (B,)", "(B, B)", "b with shape (B, 1, 4, 5)"]),
    (bug_only_one_side_explicit, ["(1, B) * (B, 1)", "(B, B)"]),
    (bug_constant_on_left, ["(B,) + p (B, 1)", "(B, B)"]),
]


@pytest.mark.parametrize("snippet, fragments", BUGGY, ids=[s.__name__ for s, _ in BUGGY])
def test_buggy_snippet_warns_at_the_users_line(snippet, fragments):
    ws = build(snippet)
    assert len(ws) == 1, [str(w.message) for w in ws]
    w = ws[0]
    assert w.category is gc.ShapeWarning
    assert w.filename == HERE
    assert w.lineno == marked_line(snippet)
    msg = str(w.message)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


@pytest.mark.parametrize("snippet, fragments", BUGGY, ids=[s.__name__ for s, _ in BUGGY])
def test_buggy_snippet_raises_in_strict_mode(snippet, fragments):
    (w,) = build(snippet)
    g = gc.Graph("strict", strict=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(gc.ShapeError) as info:
            snippet(g)
    assert not shape_warnings(record)
    assert str(info.value) == f"{w.message}\n  at {HERE}:{marked_line(snippet)}"


def test_strict_error_leaves_the_graph_unchanged():
    g = gc.Graph(strict=True)
    p, y = g.input("p", ("B", 1)), g.input("y", ("B",))
    n = len(g)
    with pytest.raises(gc.ShapeError, match=r"y with shape \(B, 1\)"):
        p - y
    assert len(g) == n


def test_pytest_warns_sees_it():
    g = gc.Graph()
    p, y = g.input("p", ("B", 1)), g.input("y", ("B",))
    with pytest.warns(gc.ShapeWarning, match=r"p \(B, 1\) - y \(B,\) broadcasts to \(B, B\)"):
        p - y


def test_warnings_filter_error_turns_it_into_an_exception():
    g = gc.Graph()
    p, y = g.input("p", ("B", 1)), g.input("y", ("B",))
    with warnings.catch_warnings():
        warnings.simplefilter("error", gc.ShapeWarning)
        with pytest.raises(gc.ShapeWarning):
            p - y


def test_the_hinted_fix_is_silent():
    g = gc.Graph(strict=True)
    x = g.input("x", ("B", 16, 1))
    W, b = g.param("W", np.zeros((16, 16))), g.param("b", np.zeros(16))
    assert (W @ x + gc.reshape(b, (16, 1))).shape == ("B", 16, 1)
    p, y = g.input("p", ("B", 1)), g.input("y", ("B",))
    assert (p - gc.reshape(y, ("B", 1))).shape == ("B", 1)


# ----------------------------------------------------------------------- correct corpus


def ok_row_bias(g):
    x = g.input("x", ("B", 16))
    x + g.param("b", np.zeros(16))
    x + g.param("c", np.zeros((1, 16)))


def ok_symbolic_row_bias(g):
    x = g.input("x", ("B", "n"))
    x + g.input("b", ("n",))


def ok_scalar_times_vector(g):
    s = g.input("s", ("B", 1))
    s * g.param("v", np.ones(16))


def ok_column_bias(g):
    x = g.input("x", ("B", 16, 1))
    x + g.param("c", np.zeros((16, 1)))


def ok_square_weights_column_layout(g):
    x = g.input("x", ("B", 16, 1))
    W = g.param("W", np.zeros((16, 16)))
    c = g.param("c", np.zeros((16, 1)))
    h = gc.tanh(W @ x + c)
    gc.tanh(W @ h + c)


def ok_outer_product_expand_dims(g):
    x = g.input("x", ("B", 8))
    gc.expand_dims(x, 2) * gc.expand_dims(x, 1)
    u, v = g.input("u", ("B", "n")), g.input("v", ("B", "n"))
    gc.expand_dims(u, 2) * gc.expand_dims(v, 1)  # (B, n, n) from two symbolic vectors


def ok_pairwise_differences_written_out(g):
    x = g.input("x", ("B", 3))
    x[:, None, :] - x[None, :, :]  # (B, B, 3): intended, both sides written out
    y = g.input("y", ("B",))
    y[:, None] - y[None, :]
    gc.reshape(y, ("B", 1)) - gc.reshape(y, (1, "B"))
    gc.expand_dims(y, 1) * 2.0 - gc.swapaxes(gc.expand_dims(y, 1), 0, 1)  # the mark carries


def ok_softmax_keepdims(g):
    z = g.input("z", ("B", 10))
    e = gc.exp(z - z.max(axis=-1, keepdims=True))
    e / e.sum(axis=-1, keepdims=True)
    gc.softmax(z)


def ok_centring_by_batch_mean(g):
    x = g.input("x", ("B", 16))
    x - x.mean(axis=0)
    x - x.mean(axis=0, keepdims=True)
    xc = x - x.mean(axis=1, keepdims=True)
    xc / gc.sqrt((xc ** 2).mean(axis=1, keepdims=True) + 1e-5)


def ok_scalars(g):
    x = g.input("x", ("B", 16))
    2.0 * x + 1
    x ** 2
    x / g.constant(3.0)
    np.float64(0.5) * x
    gc.mean(x) * x


def ok_gram_and_attention(g):
    x = g.input("x", ("B", 8))
    x @ x.mT  # (B, B): matrix axes are not broadcast
    q, k = g.input("q", ("B", "T", 8)), g.input("k", ("B", "T", 8))
    scores = q @ k.mT / 8.0 ** 0.5
    mask = g.input("mask", ("T", "T"))
    gc.softmax(scores + mask)


def ok_explicit_broadcast_to(g):
    p, y = g.input("p", ("B", 1)), g.input("y", ("B",))
    gc.broadcast_to(p, ("B", "B")) - gc.broadcast_to(y, ("B", "B"))
    gc.broadcast_to(y, ("B", "B")) - p  # an operand already has B twice


def ok_bias_given_full_rank(g):
    x = g.input("x", ("B", 16, 1))
    b = g.param("b", np.zeros(16))
    x + gc.expand_dims(b, (0, 1))  # (B, 16, 16), intended and written out


def ok_mse_and_cross_entropy(g):
    h = g.input("h", ("B", 8))
    w = g.param("w", np.zeros((8, 1)))
    y = g.input("y", ("B", 1))
    gc.mean((h @ w - y) ** 2)
    logits = g.input("logits", ("B", 10))
    onehot = g.input("onehot", ("B", 10))
    -gc.mean(gc.sum(onehot * gc.log_softmax(logits), axis=-1))
    labels = g.input("labels", ("B",), dtype=np.int64)
    picked = gc.take_along_axis(gc.log_softmax(logits), gc.expand_dims(labels, 1), axis=1)
    -gc.mean(picked)


def ok_where_and_comparisons(g):
    x = g.input("x", ("B", 16))
    gc.where(x > 0, x, 0.01 * x)
    t = g.input("t", ("B", 1))
    gc.where(x > t, x, t)  # a per-sample threshold column


def ok_batched_matmul(g):
    a, b = g.input("a", ("B", 3, 4)), g.input("b", ("B", 4, 5))
    a @ b
    a @ g.param("W", np.zeros((4, 5)))
    g.param("V", np.zeros((2, 3))) @ a


CORRECT = [ok_row_bias, ok_symbolic_row_bias, ok_scalar_times_vector, ok_column_bias,
           ok_square_weights_column_layout, ok_outer_product_expand_dims,
           ok_pairwise_differences_written_out, ok_softmax_keepdims, ok_centring_by_batch_mean,
           ok_scalars, ok_gram_and_attention, ok_explicit_broadcast_to, ok_bias_given_full_rank,
           ok_mse_and_cross_entropy, ok_where_and_comparisons, ok_batched_matmul]


@pytest.mark.parametrize("strict", [False, True], ids=["warn", "strict"])
@pytest.mark.parametrize("snippet", CORRECT, ids=[s.__name__ for s in CORRECT])
def test_correct_snippet_is_silent(snippet, strict):
    assert build(snippet, strict=strict) == []


def test_corpus_sizes():
    assert len(BUGGY) >= 10 and len(CORRECT) >= 10


def test_lint_is_registered_once():
    assert BUILD_CHECKS.count(lint.check_broadcast) == 1
    lint.register()
    assert BUILD_CHECKS.count(lint.check_broadcast) == 1


# -------------------------------------------------------------------- gradient graphs


def model_mlp(g):
    x, y = g.input("x", ("B", 4)), g.input("y", ("B", 1))
    W1, b1 = g.param("W1", np.random.randn(4, 8)), g.param("b1", np.zeros(8))
    W2, b2 = g.param("W2", np.random.randn(8, 1)), g.param("b2", np.zeros(1))
    h = gc.tanh(x @ W1 + b1)
    loss = gc.mean((h @ W2 + b2 - y) ** 2)
    return loss, [W1, b1, W2, b2], {x: np.random.randn(3, 4), y: np.random.randn(3, 1)}


def model_column_layout(g):
    x = g.input("x", ("B", 5, 1))
    W, c = g.param("W", np.random.randn(5, 5)), g.param("c", np.zeros((5, 1)))
    s = g.param("s", np.ones(()))
    loss = gc.sum(gc.sigmoid(W @ gc.tanh(W @ x + c) + c) * s)
    return loss, [W, c, s], {x: np.random.randn(3, 5, 1)}


def model_rbf_kernel(g):
    # forward graph full of intended broadcasts: (B, 1, d) - (1, B, d) -> (B, B, d)
    x = g.input("x", ("B", 2))
    ls = g.param("ls", np.ones(2))
    alpha = g.input("alpha", ("B",))
    z = x / ls
    d = z[:, None, :] - z[None, :, :]
    K = gc.exp(-gc.sum(d ** 2, axis=-1))
    loss = gc.sum(K * alpha) + gc.sum(gc.expand_dims(alpha, 1) * K * gc.expand_dims(alpha, 0))
    return loss, [ls], {x: np.random.randn(3, 2), alpha: np.random.randn(3)}


def model_layernorm_softmax(g):
    x = g.input("x", ("B", 6))
    onehot = g.input("onehot", ("B", 3))
    gamma, beta = g.param("gamma", np.ones(6)), g.param("beta", np.zeros(6))
    W = g.param("W", np.random.randn(6, 3))
    xc = x - x.mean(axis=-1, keepdims=True)
    h = gamma * xc / gc.sqrt((xc ** 2).mean(axis=-1, keepdims=True) + 1e-5) + beta
    loss = -gc.mean(gc.sum(onehot * gc.log_softmax(h @ W), axis=-1))
    return loss, [gamma, beta, W], {x: np.random.randn(3, 6),
                                    onehot: np.eye(3)[[0, 2, 1]]}


def model_outer_and_where(g):
    x = g.input("x", ("B", 4))
    w = g.param("w", np.random.randn(4))
    t = g.param("t", np.zeros(1))
    outer = gc.expand_dims(x * w, 2) * gc.expand_dims(x, 1)  # (B, 4, 4)
    r = gc.where(outer > t, outer, 0.1 * outer)
    loss = gc.sum(gc.maximum(r, t) / (1.0 + gc.mean(x ** 2, axis=0)))
    return loss, [w, t], {x: np.random.randn(3, 4)}


MODELS = [model_mlp, model_column_layout, model_rbf_kernel, model_layernorm_softmax,
          model_outer_and_where]


@pytest.mark.parametrize("strict", [False, True], ids=["warn", "strict"])
@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_gradient_graphs_never_warn(model, strict):
    g = gc.Graph(model.__name__, strict=strict)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loss, params, feed = model(g)
        n_forward = len(g)
        grads = gc.grad(loss, params)
        n_grad = len(g)
        assert n_grad > n_forward  # gradient nodes were built (and went through the checks)
        # second order: the gradient graph differentiated again
        gc.grad(gc.sum(gc.square(grads[0])), params)
    assert shape_warnings(record) == []
    for p, gp in zip(params, grads, strict=True):
        assert gp.shape == p.shape
    # every node gc.grad inserted carries gradient provenance, which is what keeps it silent
    assert all(g.node(i).role != "op" or "grad_of" in g.node(i).info
               for i in range(n_forward, n_grad))
    vals = gc.evaluate([loss, *grads], feed)
    assert all(np.all(np.isfinite(v)) for v in vals)


def test_gradient_check_of_a_model_with_intended_broadcasts():
    g = gc.Graph(strict=True)
    loss, params, feed = model_rbf_kernel(g)
    gc.check_grad(loss, params, feed)


# --------------------------------------------------------- errors name the user's line


def _line_of(fn, mark: str) -> int:
    return marked_line(fn, mark)


def _build_errors(g):
    """One failing build per op family; each line carries its own marker."""
    x = g.input("x", ("B", 3))
    x3 = g.input("x3", ("B", 3, 4))
    lab = g.input("lab", ("B", 1), dtype=np.int64)
    return {
        "add": lambda: x + g.input("q", (4,)),  # @add
        "matmul": lambda: x @ g.param("V", np.zeros((4, 4))),  # @matmul
        "matmul_0d": lambda: gc.matmul(x, g.constant(2.0)),  # @matmul_0d
        "reshape": lambda: x.reshape(("B", 4)),  # @reshape
        "reshape_hole": lambda: x.reshape((-1, 2)),  # @reshape_hole
        "broadcast_to": lambda: gc.broadcast_to(x, ("B", 4)),  # @broadcast_to
        "swapaxes": lambda: gc.swapaxes(x, 0, 5),  # @swapaxes
        "transpose": lambda: gc.transpose(x, (0, 0)),  # @transpose
        "expand_dims": lambda: gc.expand_dims(x, 7),  # @expand_dims
        "squeeze": lambda: gc.squeeze(x, 1),  # @squeeze
        "concatenate": lambda: gc.concatenate([x, x3]),  # @concatenate
        "sum": lambda: x.sum(axis=3),  # @sum
        "mean": lambda: gc.mean(x, axis=(1, 1)),  # @mean
        "max": lambda: gc.max(x, axis=9),  # @max
        "logsumexp": lambda: gc.logsumexp(x, axis=9),  # @logsumexp
        "softmax": lambda: gc.softmax(x, axis=2),  # @softmax
        "getitem": lambda: x[0, 0, 0],  # @getitem
        "getitem_bounds": lambda: x[:, 5],  # @getitem_bounds
        "take_along_axis": lambda: gc.take_along_axis(x3, lab, axis=1),  # @take_along_axis
        "T": lambda: x3.T,  # @T
        "where": lambda: gc.where(x > 0, x, x3),  # @where
        "subtract": lambda: x - x3,  # @subtract
    }


@pytest.mark.parametrize("case", list(_build_errors(gc.Graph())))
def test_every_build_shape_error_names_the_users_line(case):
    g = gc.Graph()
    fn = _build_errors(g)[case]
    with pytest.raises(gc.ShapeError) as info:
        fn()
    assert f"{HERE}:{_line_of(_build_errors, f'# @{case}')}" in str(info.value)


def test_grad_errors_name_the_forward_line():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    h = gc.tanh(x)  # @forward
    with pytest.raises(gc.ShapeError) as info:
        gc.grad(h, [x])  # @grad
    msg = str(info.value)
    here = test_grad_errors_name_the_forward_line
    assert f"{HERE}:{_line_of(here, '# @grad')}" in msg
    assert f"{HERE}:{_line_of(here, '# @forward')}" in msg


def test_errors_inside_a_vjp_name_the_forward_node(monkeypatch):
    def broken_vjp(g, out, x, at, need):
        raise gc.ShapeError("the rule failed")

    tanh = registry.get_op("tanh")
    monkeypatch.setitem(registry._REGISTRY, "tanh", dataclasses.replace(tanh, vjp=broken_vjp))
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    loss = gc.sum(gc.tanh(x))  # @forward
    with pytest.raises(gc.ShapeError) as info:
        gc.grad(loss, [x])
    msg = str(info.value)
    assert "the rule failed" in msg and "tanh" in msg
    assert f"{HERE}:{_line_of(test_errors_inside_a_vjp_name_the_forward_node, '# @forward')}" \
        in msg


# ------------------------------------------------------------------ exhaustive small sweep

_DIMS = (1, 3, "B")
_SHAPES = [()] + [(a,) for a in _DIMS] + [(a, b) for a in _DIMS for b in _DIMS] + [
    (a, b, c) for a in _DIMS for b in _DIMS for c in _DIMS]


def test_sweep_every_small_broadcast_pair():
    """Over all pairs of shapes of rank <= 3 with dims {1, 3, B}: the check never crashes, the
    duplication rule fires exactly when a symbol is duplicated by implicit broadcasting, and
    every hinted reshape is itself silent."""
    import re

    n_warned = 0
    for sa in _SHAPES:
        for sb in _SHAPES:
            g = gc.Graph()
            a, b = g.input("a", sa), g.input("b", sb)
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                try:
                    out = a + b
                except gc.ShapeError:
                    continue  # does not broadcast at all
            ws = shape_warnings(record)
            dup = out.shape.count("B") > max(sa.count("B"), sb.count("B"))
            assert len(ws) <= 1
            if dup:
                assert ws, (sa, sb)
            if not ws:
                continue
            n_warned += 1
            msg = str(ws[0].message)
            assert f"broadcasts to {out.shape}" in msg
            m = re.search(r"Did you mean (\w+) with shape (\([^)]*\))\?", msg)
            if m:
                name, shape = m.group(1), eval(m.group(2), {"B": "B"})  # noqa: S307
                g2 = gc.Graph(strict=True)
                a2 = g2.input("a", shape if name == "a" else sa)
                b2 = g2.input("b", shape if name == "b" else sb)
                _ = a2 + b2  # must neither warn nor raise
    assert n_warned > 20


def test_grad_seed_error_names_the_forward_line():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    h = gc.tanh(x)  # @forward
    with pytest.raises(gc.ShapeError) as info:
        gc.grad(h, [x], seed=np.ones(3))  # @grad
    here = test_grad_seed_error_names_the_forward_line
    assert f"{HERE}:{_line_of(here, '# @grad')}" in str(info.value)
    assert f"{HERE}:{_line_of(here, '# @forward')}" in str(info.value)
