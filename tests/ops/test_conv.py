"""Convolution and pooling against torch.nn.functional: forward and gradients (torch
autograd) for 1-, 2- and 3-D, float64 and float32; symbolic batch and spatial sizes through
one compiled Function; the errors; save/load of their unusual attributes.

The op-table rows (``op_rows_conv.py``) check the ops against loop references; the gradient
table (``grad_cases_conv.py``) checks the vjps against finite differences.
"""

from __future__ import annotations

import itertools
import re
import sys
import zlib

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional

# torch notes that its 'same' padding with an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

CONV = sys.modules["graphc.ops.convolution"]  # the family module

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-10}, np.float32: {"rtol": 2e-4, "atol": 2e-5}}


def _seed(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def _against_torch(build, tfn, arrays, dtype, wrt=None, ties=False):
    """Build ``build(*inputs)`` on inputs shaped like ``arrays``; compare its value and the
    gradients of ``sum(y * u)`` (compiled, and gc.evaluate) with torch's."""
    wrt = range(len(arrays)) if wrt is None else wrt
    g = gc.Graph()
    xs = [g.input(f"x{k}", a.shape, dtype) for k, a in enumerate(arrays)]
    y = build(*xs)
    ts = [torch.tensor(a.astype(dtype), requires_grad=k in wrt) for k, a in enumerate(arrays)]
    yt = tfn(*ts)
    u = _seed("u", y.shape).standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(u))
    uu = g.input("u", y.shape, dtype)
    grads = gc.grad(gc.sum(y * uu), [xs[k] for k in wrt])
    feed = [a.astype(dtype) for a in arrays] + [u]
    got = gc.compile([y, *grads], inputs=[*xs, uu])(*feed)
    ref = gc.evaluate([y, *grads], dict(zip([*xs, uu], feed)))
    want = [yt.detach().numpy(), *(ts[k].grad.numpy() for k in wrt)]
    for k, (a, r, w) in enumerate(zip(got, ref, want)):
        assert a.dtype == dtype and a.shape == w.shape, k
        np.testing.assert_allclose(a, r, rtol=1e-14, atol=0)
        np.testing.assert_allclose(a, w, **TOL[dtype], err_msg=f"output {k}")


# ------------------------------------------------------------------------------------ conv

SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 6, 6)}
KERNEL = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}


def _conv_configs():
    out = []
    for nd in (1, 2, 3):
        rng = np.random.default_rng(nd)
        combos = list(itertools.product(
            [1, 2, "mixed"], [0, 1, "tuple", "same", "valid"], [1, 2], [1, 2], [False, True]))
        for k in rng.permutation(len(combos))[:24 if nd < 3 else 14]:
            stride, padding, dilation, groups, bias = combos[k]
            if stride == "mixed":
                stride = tuple(2 - t % 2 for t in range(nd))
            if padding == "tuple":
                padding = tuple(t % 2 for t in range(nd)) if nd > 1 else (1,)
            if padding == "same" and stride != 1:
                stride = 1
            for dt in (np.float64, np.float32):
                out.append(pytest.param(nd, stride, padding, dilation, groups, bias, dt,
                                        id=f"{nd}d-s{stride}-p{padding}-d{dilation}-g{groups}"
                                           f"-b{int(bias)}-{np.dtype(dt).name}"))
    return out


@pytest.mark.parametrize("nd,stride,padding,dilation,groups,bias,dtype", _conv_configs())
def test_conv_matches_torch(nd, stride, padding, dilation, groups, bias, dtype):
    rng = _seed("conv", nd, stride, padding, dilation, groups, bias)
    x = rng.standard_normal((2, 4, *SPATIAL[nd]))
    w = rng.standard_normal((6, 4 // groups, *KERNEL[nd]))
    arrays = [x, w] + ([rng.standard_normal(6)] if bias else [])
    ours = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}[nd]
    theirs = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    _against_torch(lambda *t: ours(*t, **kw), lambda *t: theirs(*t, **kw), arrays, dtype)


def test_conv_generic_builder_and_unbatched_input():
    rng = _seed("unbatched")
    x, w, b = rng.standard_normal((3, 7, 6)), rng.standard_normal((2, 3, 3, 3)), np.ones(2)
    _against_torch(lambda x, w, b: gc.conv(x, w, b, padding=(1, 0), stride=(1, 2)),
                   lambda x, w, b: F.conv2d(x, w, b, padding=(1, 0), stride=(1, 2)),
                   [x, w, b], np.float64)
    g = gc.Graph()
    t = g.input("x", (3, 7, 6))
    assert gc.conv2d(t, w).shape == (2, 5, 4)
    assert gc.conv(t, w, padding="same").shape == (2, 7, 6)


def test_same_padding_puts_the_odd_element_after():
    g = gc.Graph()
    y = gc.conv1d(g.input("x", (1, 1, 5)), np.ones((1, 1, 4)), padding="same", dilation=1)
    assert y.node.attr["padding"] == ((1, 2),)
    y = gc.conv2d(g.input("x2", (1, 1, 5, 5)), np.ones((1, 1, 2, 3)), padding="same",
                  dilation=(3, 2))
    assert y.node.attr["padding"] == ((1, 2), (2, 2))


# ------------------------------------------------------------------------- conv_transpose


def _convt_configs():
    out = []
    for nd in (1, 2, 3):
        rng = np.random.default_rng(10 + nd)
        combos = list(itertools.product([1, 2, 3], [0, 1], [0, 1, 2], [1, 2], [1, 2],
                                        [False, True]))
        combos = [c for c in combos if c[2] < max(c[0], c[3])]  # torch's output_padding rule
        for k in rng.permutation(len(combos))[:20 if nd < 3 else 12]:
            stride, padding, extra, dilation, groups, bias = combos[k]
            for dt in (np.float64, np.float32):
                out.append(pytest.param(nd, stride, padding, extra, dilation, groups, bias, dt,
                                        id=f"{nd}d-s{stride}-p{padding}-op{extra}-d{dilation}"
                                           f"-g{groups}-b{int(bias)}-{np.dtype(dt).name}"))
    return out


@pytest.mark.parametrize("nd,stride,padding,extra,dilation,groups,bias,dtype",
                         _convt_configs())
def test_conv_transpose_matches_torch(nd, stride, padding, extra, dilation, groups, bias, dtype):
    rng = _seed("convt", nd, stride, padding, extra, dilation, groups, bias)
    x = rng.standard_normal((2, 4, *(s - 2 for s in SPATIAL[nd])))
    w = rng.standard_normal((4, 6 // groups, *KERNEL[nd]))
    arrays = [x, w] + ([rng.standard_normal(6)] if bias else [])
    ours = {1: gc.conv_transpose1d, 2: gc.conv_transpose2d, 3: gc.conv_transpose3d}[nd]
    theirs = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    kw = {"stride": stride, "padding": padding, "output_padding": extra,
          "dilation": dilation, "groups": groups}
    _against_torch(lambda *t: ours(*t, **kw), lambda *t: theirs(*t, **kw), arrays, dtype)


def test_conv_transpose_positional_order_is_torchs():
    """torch's conv_transpose2d takes groups before dilation; gc.conv_transpose the reverse."""
    rng = _seed("order")
    x, w = rng.standard_normal((1, 4, 3, 3)), rng.standard_normal((4, 1, 2, 2))
    _against_torch(lambda x, w: gc.conv_transpose2d(x, w, None, 1, 0, 1, 2, 2),
                   lambda x, w: F.conv_transpose2d(x, w, None, 1, 0, 1, 2, 2), [x, w],
                   np.float64)
    _against_torch(lambda x, w: gc.conv_transpose(x, w, None, 1, 0, 1, 2, 2),
                   lambda x, w: F.conv_transpose2d(x, w, None, 1, 0, 1, 2, 2), [x, w],
                   np.float64)


# ---------------------------------------------------------------------------------- pools


def _pool_data(rng, shape, ties):
    if ties:  # few distinct values: many ties in every window
        return rng.integers(-2, 3, shape).astype(np.float64)
    return rng.standard_normal(shape)


#: torch's avg_pool3d (only it) refuses an input smaller than the kernel along an axis even
#: where the padding makes the window fit; graphc pools it as avg_pool1d/2d would
TORCH_AVG3D_LIMIT = "smaller than kernel size"


def _torch_pool_or_error(fn, x, **kw):
    try:
        return fn(torch.tensor(x), **kw)
    except RuntimeError as e:
        if TORCH_AVG3D_LIMIT in str(e):
            return TORCH_AVG3D_LIMIT
        return None


def _max_pool_configs(nd):
    for k, s, p, d, ceil in itertools.product(range(1, 4), [None, 1, 2, 3], range(2),
                                              range(1, 3), (False, True)):
        if 2 * p <= k:
            yield k, s, p, d, ceil


def _max_pool_grad_torch(fn, x, u, kw):
    """torch's gradient of sum(max_pool(x) * u). A window lying wholly in the padding
    (its max is -inf) has an index past its plane, where torch's backward writes out of
    bounds (into the next channel, or corrupting memory): such windows get no gradient
    here (graphc drops theirs), and torch only sees the others' (u = 0 there would still
    write out of bounds, so those windows are cut off by an -inf mask instead)."""
    tx = torch.tensor(x, requires_grad=True)
    y = fn(tx, **kw)
    ok = torch.isfinite(y.detach()) | torch.isnan(y.detach())
    if bool(ok.all()):
        (y * torch.tensor(u)).sum().backward()
        return tx.grad.numpy()
    # no backward through the bogus indices: the gradient of the others by their indices
    y, idx = fn(tx.detach(), return_indices=True, **kw)
    grad = np.zeros((*x.shape[:2], int(np.prod(x.shape[2:]))))
    keep = ok.numpy().reshape(*x.shape[:2], -1)
    flat, uu = idx.numpy().reshape(keep.shape), u.reshape(keep.shape)
    for a, b in np.ndindex(*keep.shape[:2]):
        np.add.at(grad[a, b], flat[a, b][keep[a, b]], uu[a, b][keep[a, b]])
    return grad.reshape(x.shape)


@pytest.mark.parametrize("n", range(1, 8))
def test_max_pool1d_exhaustive(n):
    """Every small 1-D configuration: the same sizes (or the same refusal) as torch, the
    same values, indices (first max at ties) and gradient."""
    rng = _seed("mp1", n)
    g = gc.Graph()
    xt = g.input("x", (2, 3, n))
    for k, s, p, d, ceil in _max_pool_configs(1):
        x = _pool_data(rng, (2, 3, n), ties=True)
        kw = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil}
        want = _torch_pool_or_error(lambda t, **kw: F.max_pool1d(t, return_indices=True, **kw),
                                    x, **kw)
        if want is None:
            with pytest.raises(ShapeError, match="window"):
                gc.max_pool1d(xt, **kw)
            continue
        y, idx = gc.max_pool1d(xt, return_indices=True, **kw)
        u = rng.standard_normal(tuple(want[0].shape))
        dx = gc.grad(gc.sum(y * u), [xt])[0]
        got = gc.evaluate([y, idx, dx], {xt: x})
        np.testing.assert_array_equal(got[0], want[0].numpy(), err_msg=str(kw))
        np.testing.assert_array_equal(got[1], want[1].numpy(), err_msg=str(kw))
        np.testing.assert_allclose(got[2], _max_pool_grad_torch(F.max_pool1d, x, u, kw),
                                   rtol=1e-14, atol=1e-14)


def _avg_pool_configs():
    for k, s, p, ceil, include in itertools.product(range(1, 5), [None, 1, 2, 3], range(3),
                                                    (False, True), (False, True)):
        if 2 * p <= k:
            yield k, s, p, ceil, include


@pytest.mark.parametrize("n", range(1, 9))
def test_avg_pool1d_exhaustive(n):
    """Every small 1-D configuration against torch: sizes (or refusal), values and gradient
    (divisors of ceil-mode windows hanging off the padded input included)."""
    rng = _seed("ap1", n)
    g = gc.Graph()
    xt = g.input("x", (2, 3, n))
    for k, s, p, ceil, include in _avg_pool_configs():
        x = rng.standard_normal((2, 3, n))
        kw = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil,
              "count_include_pad": include}
        want = _torch_pool_or_error(F.avg_pool1d, x, **kw)
        if want is None:
            with pytest.raises(ShapeError, match="window"):
                gc.avg_pool1d(xt, **kw)
            continue
        y = gc.avg_pool1d(xt, **kw)
        u = rng.standard_normal(tuple(want.shape))
        dx = gc.grad(gc.sum(y * u), [xt])[0]
        got = gc.evaluate([y, dx], {xt: x})
        tx = torch.tensor(x, requires_grad=True)
        F.avg_pool1d(tx, **kw).backward(torch.tensor(u))
        np.testing.assert_allclose(got[0], want.numpy(), rtol=1e-13, atol=1e-14,
                                   err_msg=str(kw))
        np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-13, atol=1e-14,
                                   err_msg=str(kw))


@pytest.mark.parametrize("nd", [2, 3])
def test_pools_nd_sweep(nd):
    """A random sweep of 2-D and 3-D pooling configurations (per-axis kernel, stride,
    padding, dilation; ceil mode; count_include_pad; divisor_override) against torch."""
    rng = _seed("sweep", nd)
    mp = {2: (gc.max_pool2d, F.max_pool2d), 3: (gc.max_pool3d, F.max_pool3d)}[nd]
    ap = {2: (gc.avg_pool2d, F.avg_pool2d), 3: (gc.avg_pool3d, F.avg_pool3d)}[nd]
    checked = 0
    for trial in range(60 if nd == 2 else 30):
        n = tuple(int(v) for v in rng.integers(1, 7, nd))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        ceil = bool(trial % 2)
        ties = bool(trial % 3 == 0)
        x = _pool_data(rng, (2, 2, *n), ties)
        g = gc.Graph()
        xt = g.input("x", x.shape)
        for (ours, theirs), kw in (
                (mp, {"kernel_size": k, "stride": s, "padding": p, "dilation": d,
                      "ceil_mode": ceil}),
                (ap, {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil,
                      "count_include_pad": bool(trial % 4 < 2),
                      "divisor_override": 7 if trial % 5 == 0 else None})):
            want = _torch_pool_or_error(theirs, x, **kw)
            if want is None:
                with pytest.raises(ShapeError, match="window"):
                    ours(xt, **kw)
                continue
            if isinstance(want, str):  # torch's avg_pool3d limit: not compared
                continue
            y = ours(xt, **kw)
            u = rng.standard_normal(tuple(want.shape))
            got = gc.compile([y, gc.grad(gc.sum(y * u), [xt])[0]], inputs=[xt])(x)
            if ours is mp[0]:
                grad = _max_pool_grad_torch(theirs, x, u, kw)
            else:
                tx = torch.tensor(x, requires_grad=True)
                theirs(tx, **kw).backward(torch.tensor(u))
                grad = tx.grad.numpy()
            np.testing.assert_allclose(got[0], want.numpy(), rtol=1e-13, atol=1e-14,
                                       err_msg=str(kw))
            np.testing.assert_allclose(got[1], grad, rtol=1e-13, atol=1e-14, err_msg=str(kw))
            checked += 1
    assert checked > 40 * (nd == 2) + 20 * (nd == 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pools_match_torch_in_both_dtypes(nd, dtype):
    rng = _seed("pools", nd, dtype)
    x = rng.standard_normal((2, 3, *SPATIAL[nd]))
    mp = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    ap = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    ours_mp = {1: gc.max_pool1d, 2: gc.max_pool2d, 3: gc.max_pool3d}[nd]
    ours_ap = {1: gc.avg_pool1d, 2: gc.avg_pool2d, 3: gc.avg_pool3d}[nd]
    _against_torch(lambda t: ours_mp(t, 2, 1, 1, 2, True),
                   lambda t: mp(t, 2, 1, 1, 2, True), [x], dtype)
    _against_torch(lambda t: ours_mp(t, 3, 2, 1, ceil_mode=False),
                   lambda t: mp(t, 3, 2, 1, ceil_mode=False), [x], dtype)
    _against_torch(lambda t: ours_ap(t, 3, 2, 1, True, False),
                   lambda t: ap(t, 3, 2, 1, True, False), [x], dtype)
    _against_torch(lambda t: ours_ap(t, 2), lambda t: ap(t, 2), [x], dtype)


def test_max_pool_ties_nan_and_indices():
    """Ties go to the first max of the window (torch), a NaN to the last NaN, as torch."""
    x = np.array([[[1.0, 3.0, 3.0, 2.0, 3.0, np.nan, 0.0, np.nan, 1.0]]])
    g = gc.Graph()
    t = g.input("x", x.shape)
    y, idx = gc.max_pool1d(t, 3, 1, return_indices=True)
    dx = gc.grad(gc.sum(gc.where(y == y, y, 0.0)), [t])[0]  # NaN != NaN
    got = gc.compile([y, idx, dx], inputs=[t])(x)
    ty, ti = F.max_pool1d(torch.tensor(x), 3, 1, return_indices=True)
    np.testing.assert_array_equal(got[0], ty.numpy())
    np.testing.assert_array_equal(got[1], ti.numpy())
    tx = torch.tensor(x, requires_grad=True)
    yy = F.max_pool1d(tx, 3, 1)
    torch.where(yy == yy, yy, 0.0).sum().backward()
    np.testing.assert_array_equal(got[2], tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_gradient_with_nan_inf_and_overlap_in_2d(dtype):
    """Overlapping 2-D windows (kernel 3, stride 1, dilation 2, padding 1, ceil mode) over
    data with ties, -inf and NaN: values, indices and gradient as torch's, with the pool
    and its gradient computed into the memory plan's buffers (they are not outputs)."""
    rng = _seed("mp-nan", dtype)
    x = rng.integers(-2, 3, (2, 3, 7, 6)).astype(dtype)
    x[rng.random(x.shape) < 0.15] = -np.inf
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, 1] = -np.inf  # windows without any value above -inf: torch's first inside
    kw = {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2, "ceil_mode": True}
    g = gc.Graph()
    t, s = g.input("x", x.shape, dtype), g.input("s", (), dtype)
    y, idx = gc.max_pool2d(t, return_indices=True, **kw)
    u = rng.standard_normal(tuple(y.shape)).astype(dtype)
    dx = gc.grad(gc.sum(gc.where(y == y, y, 0.0) * u), [t])[0]  # NaN != NaN
    f = gc.compile([y * s, idx, dx * s], inputs=[t, s])
    assert re.search(r"max_pool_grad \(2, 3, 7, 6\)", f.source)
    for line in f.source.splitlines():
        if re.search(r"# max_pool(_grad)? \(", line):
            assert "out=b" in line, line
    got = f(x, np.ones((), dtype))
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = F.max_pool2d(tx, return_indices=True, **kw)
    torch.where(ty == ty, ty, 0.0).mul(torch.tensor(u)).sum().backward()
    assert np.isnan(got[0]).any() and np.isinf(got[0]).any()
    np.testing.assert_array_equal(got[0], ty.detach().numpy())
    np.testing.assert_array_equal(got[1], ti.numpy())
    np.testing.assert_allclose(got[2], tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_conv_family_kernels_write_into_planned_buffers():
    """In a compiled training step every conv and pool node that is not an output gets a
    buffer of the memory plan (``out=``), and the step matches gc.evaluate."""
    rng = _seed("planned")
    g = gc.Graph()
    x = g.input("x", ("N", 2, 6, 6))
    w1 = g.param("w1", rng.standard_normal((4, 2, 3, 3)))
    w2 = g.param("w2", rng.standard_normal((4, 3, 2, 2)))
    h = gc.max_pool2d(gc.relu(gc.conv2d(x, w1, padding=1)), 2)
    h = gc.avg_pool2d(gc.conv_transpose2d(h, w2, stride=2), 2)
    loss = gc.sum(h * h)
    outs = [loss, *(gc.sum(d * d) for d in gc.grad(loss, [w1, w2, x]))]  # no conv output
    f = gc.compile(outs, inputs=[x])
    ops = ("conv", "conv_transpose", "conv_weight_grad", "max_pool", "max_pool_grad",
           "avg_pool", "avg_pool_grad")
    seen = set()
    for line in f.source.splitlines():
        m = re.search(r"# (\w+) \(", line)
        if m and m.group(1) in ops and "= k_" in line:
            seen.add(m.group(1))
            assert "out=b" in line, line
    assert seen == set(ops)
    xv = rng.standard_normal((3, 2, 6, 6))
    for a, b in zip(f(xv), gc.evaluate(outs, {x: xv})):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_max_pool_generic_builder_unbatched_and_indices():
    rng = _seed("mpg")
    x = rng.integers(-3, 4, (3, 6, 7)).astype(np.float64)  # unbatched (C, H, W)
    g = gc.Graph()
    t = g.input("x", x.shape)
    y, i = gc.max_pool2d(t, (2, 3), (2, 2), (1, 1), ceil_mode=True, return_indices=True)
    y2 = gc.max_pool(t, (2, 3), (2, 2), (1, 1), ceil_mode=True)  # 2 axes: len(kernel_size)
    got = gc.evaluate([y, i, y2], {t: x})
    ty, ti = F.max_pool2d(torch.tensor(x), (2, 3), (2, 2), (1, 1), ceil_mode=True,
                          return_indices=True)
    np.testing.assert_array_equal(got[0], ty.numpy())
    np.testing.assert_array_equal(got[1], ti.numpy())
    np.testing.assert_array_equal(got[2], ty.numpy())
    assert gc.max_pool(g.input("b", (2, 3, 8)), 2).shape == (2, 3, 4)  # ndim - 2 axes


# ----------------------------------------------------------------------- symbolic sizes


def test_symbolic_batch_and_spatial_sizes_through_one_function():
    """One compiled Function: conv, pools and a transposed conv on (N, 3, H, W), bound to
    several sizes, each checked against torch forward and backward."""
    rng = _seed("symbolic")
    w1 = rng.standard_normal((4, 3, 3, 3))
    w2 = rng.standard_normal((4, 2, 2, 2))  # transposed: (C_in, C_out/groups, kH, kW)
    b1 = rng.standard_normal(4)
    g = gc.Graph()
    x = g.input("x", ("N", 3, "H", "W"))
    W1, W2, B1 = g.input("w1", w1.shape), g.input("w2", w2.shape), g.input("b1", (4,))

    def net(conv2d, max_pool2d, conv_transpose2d, avg_pool2d, relu, x, W1, W2, B1):
        h = relu(conv2d(x, W1, B1, stride=2, padding=1))
        h = max_pool2d(h, 2, ceil_mode=True)
        h = conv_transpose2d(h, W2, stride=2, output_padding=1, groups=2)
        return avg_pool2d(h, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)

    y = net(gc.conv2d, gc.max_pool2d, gc.conv_transpose2d, gc.avg_pool2d, gc.relu,
            x, W1, W2, B1)
    assert y.shape[0] == "N" and all(isinstance(d, gc.Dim) for d in y.shape[2:])
    u = g.input("u", y.shape)
    grads = gc.grad(gc.sum(y * u), [x, W1, W2, B1])
    f = gc.compile([y, *grads], inputs=[x, W1, W2, B1, u])
    for N, H, W in [(1, 5, 7), (3, 8, 8), (2, 11, 6), (1, 3, 3)]:
        xv = rng.standard_normal((N, 3, H, W))
        ts = [torch.tensor(a, requires_grad=True) for a in (xv, w1, w2, b1)]
        yt = net(F.conv2d, F.max_pool2d, F.conv_transpose2d, F.avg_pool2d, torch.relu, *ts)
        assert tuple(y.shape.bind({"N": N, "H": H, "W": W})) == tuple(yt.shape)
        uv = rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(uv))
        got = f(xv, w1, w2, b1, uv)
        for a, want in zip(got, [yt, *(t.grad for t in ts)]):
            np.testing.assert_allclose(a, want.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_an_empty_batch():
    """N = 0 through every kernel, forward and backward, compiled and evaluated."""
    g = gc.Graph()
    x, w = g.input("x", ("N", 4, "H", 7)), g.input("w", (6, 2, 3, 3))
    y = gc.conv2d(x, w, groups=2, padding=1)
    z, idx = gc.max_pool2d(y, 2, ceil_mode=True, return_indices=True)
    a = gc.avg_pool2d(y, 3, 2, 1)
    t = gc.conv_transpose2d(z, np.ones((6, 2, 2, 2)), stride=2)
    outs = [y, z, idx, a, t, *gc.grad(gc.sum(z) + gc.sum(a) + gc.sum(t), [x, w])]
    f = gc.compile(outs, inputs=[x, w])
    for N, H in [(0, 5), (2, 5), (0, 3)]:
        feed = [np.ones((N, 4, H, 7)), np.ones((6, 2, 3, 3))]
        got = f(*feed)
        for a_, b_, o in zip(got, gc.evaluate(outs, dict(zip([x, w], feed))), outs):
            assert a_.shape == o.shape.bind({"N": N, "H": H})
            np.testing.assert_array_equal(a_, b_)
        assert not got[-1].any() if N == 0 else got[-1].any()


def test_output_sizes_are_dim_expressions():
    g = gc.Graph()
    x = g.input("x", ("N", 2, "T"))
    w = np.ones((4, 2, 3))
    assert gc.conv1d(x, w, stride=2, padding=1).shape == ("N", 4, "(T + 1)//2")
    assert gc.conv1d(x, w, padding="same").shape == ("N", 4, "T")
    assert gc.conv1d(x, w, dilation=2).shape == ("N", 4, "T - 4")
    assert gc.conv_transpose1d(x, np.ones((2, 3, 3)), stride=2, padding=1,
                               output_padding=1).shape == ("N", 3, "2*T")
    assert gc.max_pool1d(x, 2).shape == ("N", 2, "T//2")
    assert gc.max_pool1d(x, 3, 2, 1, ceil_mode=True).shape == ("N", 2, "T//2 + 1")
    assert gc.avg_pool1d(x, 2, ceil_mode=True).shape == ("N", 2, "(T + 1)//2")


def test_ceil_mode_keeps_a_window_hanging_off_the_end_as_torch():
    """In ceil mode torch keeps one window that hangs off the padded input when the input
    falls short of it by less than the stride; graphc too, symbolic sizes included."""
    g = gc.Graph()
    x = g.input("x", (1, 2, "T"))
    ys = [gc.max_pool1d(x, 4, 3, 1, ceil_mode=True),
          gc.avg_pool1d(x, 4, 3, 1, ceil_mode=True, count_include_pad=False),
          gc.avg_pool1d(x, 4, 3, 2, ceil_mode=True)]
    f = gc.compile(ys, inputs=[x])
    rng = _seed("hanging")
    for T in (1, 2, 3, 5, 8):
        xv = rng.standard_normal((1, 2, T))
        want = [F.max_pool1d(torch.tensor(xv), 4, 3, 1, ceil_mode=True),
                F.avg_pool1d(torch.tensor(xv), 4, 3, 1, ceil_mode=True, count_include_pad=False),
                F.avg_pool1d(torch.tensor(xv), 4, 3, 2, ceil_mode=True)]
        for a, b in zip(f(xv), want):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-14, atol=1e-14)
    h = gc.compile(gc.max_pool1d(x, 4, 2, 0, ceil_mode=True), inputs=[x])
    assert h(np.ones((1, 2, 3))).shape == (1, 2, 1)  # 3 of the window's 4 fit: kept
    with pytest.raises(ShapeError, match=r"ceil mode needs the padded size T > 2, but T = 2"):
        h(np.ones((1, 2, 2)))  # only 2 of 4: torch refuses too
    with pytest.raises(RuntimeError):
        F.max_pool1d(torch.ones(1, 2, 2), 4, 2, 0, ceil_mode=True)


def test_gradients_are_graphs_of_the_conv_family():
    """dx is a transposed conv, dw the correlation of x with g; their own gradients stay in
    the family (no loops, no new ops)."""
    g = gc.Graph()
    x, w = g.input("x", ("N", 2, 6, 6)), g.input("w", (3, 2, 3, 3))
    gx, gw = gc.grad(gc.sum(gc.square(gc.conv2d(x, w, stride=2, padding=1))), [x, w])
    assert gx.op == "conv_transpose" and gw.op == "conv_weight_grad"
    second = gc.grad(gc.sum(gx * gx) + gc.sum(gw * gw), [x, w])
    ops = {n.op for n in g.nodes}
    assert ops <= {"input", "conv", "conv_transpose", "conv_weight_grad", "square", "sum",
                   "multiply", "add", "broadcast_to", "full", "constant", "reshape",
                   "expand_dims"}, ops
    assert all(s.shape == t.shape for s, t in zip(second, [x, w]))
    p = g.input("p", ("N", 2, 7, 7))
    gp = gc.grad(gc.sum(gc.max_pool2d(p, 3, 2, 1) * gc.avg_pool2d(p, 3, 2, 1)), [p])[0]
    assert {"max_pool_grad", "avg_pool_grad"} <= {n.op for n in g.nodes[-12:]}
    assert gp.shape == p.shape


def test_check_grad_through_a_small_network():
    rng = _seed("cg")
    g = gc.Graph()
    x = g.input("x", ("N", 2, "L"))
    w1 = g.input("w1", (3, 2, 3))
    w2 = g.input("w2", (3, 2, 2))
    h = gc.tanh(gc.conv1d(x, w1, padding=1))
    h = gc.avg_pool1d(h, 2, ceil_mode=True, count_include_pad=False)
    h = gc.conv_transpose1d(h, w2, stride=2, output_padding=1)
    y = gc.sum(gc.max_pool1d(h * h, 2, 1) + h[:, :, :3].sum())
    for N, L in [(1, 5), (2, 8)]:
        feed = {x: rng.standard_normal((N, 2, L)), w1: rng.standard_normal((3, 2, 3)),
                w2: rng.standard_normal((3, 2, 2))}
        gc.check_grad(y, [x, w1, w2], feed, order=1)


# ---------------------------------------------------------------------------------- errors


def _refused(exc, match, fn, *args, **kw):
    """``fn`` raises ``exc`` matching ``match`` and leaves every graph it touched as it was."""
    graphs = {a.graph: len(a.graph.nodes) for a in args if isinstance(a, gc.Tensor)}
    with pytest.raises(exc, match=match):
        fn(*args, **kw)
    for gr, n in graphs.items():
        assert len(gr.nodes) == n, "a failed build left nodes behind"


def test_build_errors():
    g = gc.Graph()
    x = g.input("x", (2, 4, 6, 6))
    w = np.ones((6, 2, 3, 3))
    _refused(ShapeError, "4 input channels.*takes 2", gc.conv2d, x, w)  # groups=1
    _refused(ShapeError, "groups=4 must divide the output channels", gc.conv2d, x, w, groups=4)
    _refused(ShapeError, "input channels.*takes 6", gc.conv2d, x, np.ones((6, 3, 3, 3)),
             groups=2)
    _refused(ShapeError, "window of 9 .*needs the padded size 8 >= 9", gc.conv2d, x,
             np.ones((6, 4, 9, 3)), padding=1)
    _refused(ShapeError, r"window of 5 \(kernel 3, dilation 2\) needs the padded size 4 >= 5",
             gc.conv2d, g.input("x4", (2, 4, 4, 9)), np.ones((6, 4, 3, 3)), dilation=2)
    _refused(ShapeError, r"3-D \(unbatched\) or 4-D", gc.conv2d,
             g.input("x6", (1, 2, 3, 4, 5, 6)), w)
    _refused(ShapeError, "4-D weight", gc.conv2d, x, np.ones((6, 4, 3)))
    _refused(ValueError, "'same' needs stride 1", gc.conv2d, x, np.ones((6, 4, 3, 3)),
             padding="same", stride=2)
    _refused(ValueError, "padding 'full'", gc.conv2d, x, np.ones((6, 4, 3, 3)), padding="full")
    _refused(ValueError, "stride must be >= 1", gc.conv2d, x, np.ones((6, 4, 3, 3)), stride=0)
    _refused(ValueError, "padding must be >= 0", gc.conv2d, x, np.ones((6, 4, 3, 3)),
             padding=-1)
    _refused(ValueError, "2 entries", gc.conv2d, x, np.ones((6, 4, 3, 3)), stride=(1, 1, 1))
    _refused(ShapeError, "bias .* must be \\(6,\\)", gc.conv2d, x, np.ones((6, 4, 3, 3)),
             np.ones(4))
    _refused(TypeError, "float operands", gc.conv2d, g.input("xi", (2, 4, 6, 6), np.int64),
             np.ones((6, 4, 3, 3), np.int64))
    _refused(ValueError, "output_padding .* smaller than the stride", gc.conv_transpose2d, x,
             np.ones((4, 2, 3, 3)), stride=2, output_padding=2)
    _refused(ShapeError, "spatial sizes \\(-1,\\) must be >= 1", gc.conv_transpose1d,
             g.input("x1", (1, 2, 1)), np.ones((2, 2, 1)), padding=1)
    _refused(ValueError, "at most half the kernel", gc.max_pool2d, x, 3, padding=2)
    _refused(ValueError, "at most half the kernel", gc.avg_pool1d, g.input("y", (1, 1, 9)), 2,
             padding=2)
    _refused(ShapeError, "window of 7", gc.max_pool2d, x, 7)
    _refused(ShapeError, "3-D .*or 4-D", gc.max_pool2d, g.input("z", (5, 5)), 2)
    _refused(TypeError, "float tensor", gc.avg_pool2d, g.input("zi", (1, 1, 4, 4), np.int32), 2)
    _refused(ValueError, "kernel_size .* 2 entries", gc.max_pool2d, x, (2, 2, 2))
    _refused(TypeError, "ceil_mode", gc.max_pool2d, x, 2, ceil_mode="yes")


def test_kernel_larger_than_padded_symbolic_input_is_caught_at_call_time():
    g = gc.Graph()
    x = g.input("x", ("N", 1, "H", "W"))
    y = gc.conv2d(x, np.ones((1, 1, 3, 5)), padding=(0, 1))
    f = gc.compile(y, inputs=[x])
    assert f(np.ones((2, 1, 3, 3))).shape == (2, 1, 1, 1)
    with pytest.raises(ShapeError, match=r"window of 3 .*needs the padded size H >= 3, but "
                                         r"H = 2"):
        f(np.ones((2, 1, 2, 4)))
    with pytest.raises(ShapeError, match=r"window of 5 .*W \+ 2 >= 5"):
        f(np.ones((2, 1, 3, 2)))
    with pytest.raises(ShapeError, match="window of 5"):
        gc.evaluate(y, {x: np.ones((2, 1, 3, 2))})
    assert f(np.ones((1, 1, 4, 3))).shape == (1, 1, 2, 1)  # still fine afterwards
    p = gc.max_pool1d(g.input("t", (1, 2, "T")), 4, stride=1, dilation=2)
    with pytest.raises(ShapeError, match=r"window of 7 \(kernel 4, dilation 2\)"):
        gc.compile(p, inputs=[p.graph.inputs["t"]])(np.ones((1, 2, 6)))


def test_internal_op_checks():
    g = gc.Graph()
    x = g.input("x", (2, 4, 6))
    gy = g.input("g", (2, 3, 4))
    attrs = {"kernel": (3,), "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    assert g.apply("conv_weight_grad", [x, gy], attrs).shape == (3, 4, 3)
    with pytest.raises(ShapeError, match="the conv relation needs \\(4,\\)"):
        g.apply("conv_weight_grad", [x, g.input("g5", (2, 3, 5))], attrs)
    with pytest.raises(ShapeError, match="conv relation"):
        g.apply("conv_transpose", [gy, g.input("w", (3, 4, 3))],
                {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "size": (7,)})
    with pytest.raises(ShapeError, match="does not fit max pooling"):
        g.apply("max_pool_grad", [x, g.input("h", (2, 4, 4))],
                {"kernel": 2, "stride": 2, "padding": 0, "dilation": 1, "ceil_mode": False})
    with pytest.raises(ShapeError, match="conv relation"):
        g.apply("avg_pool_grad", [g.input("k", (2, 4, 4))],
                {"kernel": 2, "stride": 2, "padding": 0, "ceil_mode": False,
                 "count_include_pad": True, "divisor": None, "size": (6,)})


def test_attributes_are_canonical():
    g = gc.Graph()
    x = g.input("x", (1, 2, 5, 5))
    y = gc.conv2d(x, np.ones((2, 2, 3, 3)), stride=np.int64(2), padding=[1, 0], dilation=(1,))
    assert y.node.attr == {"stride": (2, 2), "padding": ((1, 1), (0, 0)), "dilation": (1, 1),
                           "groups": 1}
    assert all(type(v) is int for v in y.node.attr["stride"])
    p = gc.max_pool2d(x, [2, 3])
    assert p.node.attr == {"kernel": (2, 3), "stride": (2, 3), "padding": (0, 0),
                           "dilation": (1, 1), "ceil_mode": False}
    # normalize is idempotent: re-applying the stored attributes gives the same node
    again = g.apply("conv", [x, gc.Tensor(g, y.node.inputs[1])], dict(y.node.attr))
    assert again.node.attr == y.node.attr


# ------------------------------------------------------------------------------ save/load


def test_save_load_round_trip(tmp_path):
    """(lo, hi) pairs with a negative hi, a symbolic output size, the internal gradient ops:
    saved and loaded, the graph computes the same."""
    rng = _seed("io")
    g = gc.Graph("conv_io")
    x = g.input("x", ("N", 2, "T"))
    w = g.param("w", rng.standard_normal((2, 3, 3)))
    y = gc.conv_transpose1d(x, w, stride=1, output_padding=1, dilation=2)  # hi = -1
    z, idx = gc.max_pool1d(y, 3, 2, 1, ceil_mode=True, return_indices=True)
    v = gc.avg_pool1d(z, 2, ceil_mode=True, count_include_pad=False)
    loss = gc.sum(v * v)
    gx, gw = gc.grad(loss, [x, w])
    g.output("loss", loss)
    g.output("gx", gx)
    g.output("gw", gw)
    g.output("idx", idx)
    assert {"conv", "conv_transpose", "conv_weight_grad", "max_pool_grad", "avg_pool_grad",
            "max_pool_indices"} <= {n.op for n in g.nodes}
    path = tmp_path / "conv.json"
    gc.save(g, path)
    h = gc.load(path)
    xv = rng.standard_normal((3, 2, 6))
    want = gc.compile(list(g.outputs.values()), inputs=[x])(xv)
    got = gc.compile(list(h.outputs.values()), inputs=[h.inputs["x"]])(xv)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- the kernels


def test_kernels_take_any_strides_and_float32():
    """Non-contiguous operands (a transposed view, a step slice) give the same result."""
    rng = _seed("strides")
    x = rng.standard_normal((3, 2, 9, 8))
    w = rng.standard_normal((4, 2, 3, 3))
    g = gc.Graph()
    t = g.input("x", ("N", 2, 9, 8))
    y = gc.conv2d(t, w, stride=2, padding=1)
    f = gc.compile([y, gc.max_pool2d(y, 2), gc.grad(gc.sum(y * y), [t])[0]], inputs=[t])
    base = f(np.ascontiguousarray(x))
    for view in (np.asfortranarray(x), x.repeat(2, axis=3)[:, :, :, ::2]):
        for a, b in zip(f(view), base):
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


def test_the_three_conv_kernels_are_adjoint():
    """<conv(x, w), y> = <x, conv_transpose(y, w)> = <w, conv_weight_grad(x, y)>, kernel by
    kernel (their gather tables included): strides, dilations, uneven and cropping
    padding, groups, 1-D to 3-D, float32 and float64, with and without an ``out=``."""
    rng = _seed("adjoint")
    cases = [((3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2), (7, 6), 1),
             ((2,), (3,), ((2, 1),), (2,), (5,), 2),
             ((3,), (1,), ((2, -1),), (1,), (6,), 1),
             ((2, 1, 3), (1, 2, 1), ((1, 0), (0, 0), (2, 2)), (2, 1, 1), (4, 3, 5), 2)]
    for (kernel, stride, padding, dil, n, groups), dtype in itertools.product(
            cases, (np.float64, np.float32)):
        m = [(nn + lo + hi - d * (k - 1) - 1) // s + 1
             for nn, (lo, hi), d, k, s in zip(n, padding, dil, kernel, stride)]
        x = rng.standard_normal((3, 2 * groups, *n)).astype(dtype)
        w = rng.standard_normal((2 * groups, 2, *kernel)).astype(dtype)
        y = rng.standard_normal((3, 2 * groups, *m)).astype(dtype)
        at = (stride, padding, dil, groups)
        cx = CONV.conv_kernel(x, w, *at, y.shape)
        tx = CONV.conv_transpose_kernel(y, w, *at, x.shape)
        wx = CONV.conv_weight_grad_kernel(x, y, *at, w.shape)
        for fn, args, shape, want in ((CONV.conv_kernel, (x, w), y.shape, cx),
                                      (CONV.conv_transpose_kernel, (y, w), x.shape, tx),
                                      (CONV.conv_weight_grad_kernel, (x, y), w.shape, wx)):
            assert want.dtype == dtype and want.shape == shape
            buf = np.full(shape, np.nan, dtype)
            assert fn(*args, *at, shape, out=buf) is buf
            np.testing.assert_array_equal(buf, want)
        tol = (1e-12 if dtype == np.float64 else 1e-6) * np.abs(y).sum() * np.abs(x).sum()
        dots = [np.vdot(cx.astype(np.float64), y), np.vdot(x.astype(np.float64), tx),
                np.vdot(w.astype(np.float64), wx)]
        assert max(dots) - min(dots) < tol, (kernel, stride, padding, dots)
