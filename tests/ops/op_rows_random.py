"""Op-table rows of the random ops (run inside tests/ops/test_op_table.py).

A draw's value is a function of its graph's generator state, which a compiled call advances:
each row's build remembers its draw node, and its ref reads that node's graph state and
stream when it is called (before the evaluation and the compiled call of each binding), so
it gives what that call must draw. The refs recompute the draws from numpy's Philox: a
float64 uniform from the raw 64-bit words (numpy's ``(w >> 11) * 2**-53``), the others with
numpy's Generator at the documented counter ``[0, stream, counter, 0]``."""

# ruff: noqa: F821  (row, gc, np come from the table's namespace)

_LAST = {}


def _keep(t):
    _LAST["node"] = t
    return t


def _gen_of():
    t = _LAST["node"]
    key, call = (int(v) for v in t.graph.params["rng/state"])
    counter = np.array([0, t.node.attr["stream"], call, 0], np.uint64)
    return np.random.Philox(key=key, counter=counter)


def _uniform_ref(shape, low, high, dtype):
    bits = _gen_of()
    n = int(np.prod(shape, dtype=np.int64))
    if np.dtype(dtype) == np.float64:
        u = (bits.random_raw(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    else:
        u = np.random.Generator(bits).random(n, np.float32)
    return (np.asarray(u, dtype).reshape(shape) * dtype(high - low) + dtype(low)).astype(dtype)


def _normal_ref(shape, loc, scale, dtype):
    z = np.random.Generator(_gen_of()).standard_normal(shape, dtype)
    return (z * dtype(scale) + dtype(loc)).astype(dtype)


def _bernoulli_ref(shape, p, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    u = (_gen_of().random_raw(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (u < p).reshape(shape).astype(dtype)


for _s, _lo, _hi in [(("B", 3), 0.0, 1.0), (("B",), -2.0, 3.5), ((), 1.0, 2.0),
                     (("2*B", "B - 1", 2), -1.0, 1.0)]:
    row("random_uniform",
        lambda x, _s=_s, _lo=_lo, _hi=_hi: _keep(gc.random.uniform(x, _s, _lo, _hi,
                                                                    dtype=x.dtype)),
        lambda B, a, _s=_s, _lo=_lo, _hi=_hi: _uniform_ref(conc(gc.Shape(_s).bind({"B": B}), B),
                                                           _lo, _hi, a.dtype.type),
        [("B",)], label=f"{_s},{_lo},{_hi}")
row("random_uniform", lambda x: _keep(gc.random.uniform(x.graph, x.shape)),
    lambda B, a: _uniform_ref(a.shape, 0.0, 1.0, np.float64), [(2, "B")], label="x.shape")

for _s, _loc, _scale in [(("B", 3), 0.0, 1.0), (("B",), 2.0, 0.5), ((), -1.0, 3.0),
                         (("B*B", 2), 1.0, 0.0)]:
    row("random_normal",
        lambda x, _s=_s, _loc=_loc, _sc=_scale: _keep(gc.random.normal(x, _s, _loc, _sc,
                                                                       dtype=x.dtype)),
        lambda B, a, _s=_s, _loc=_loc, _sc=_scale: _normal_ref(gc.Shape(_s).bind({"B": B}),
                                                               _loc, _sc, a.dtype.type),
        [("B",)], label=f"{_s},{_loc},{_scale}")

for _s, _p, _dt in [(("B", 3), 0.3, bool), (("B",), 0.5, np.float64), ((), 0.9, np.int32),
                    (("B", 2), 0.0, bool), (("B", 2), 1.0, np.float32)]:
    row("random_bernoulli",
        lambda x, _s=_s, _p=_p, _dt=_dt: _keep(gc.random.bernoulli(x, _p, _s, dtype=_dt)),
        lambda B, a, _s=_s, _p=_p, _dt=_dt: _bernoulli_ref(gc.Shape(_s).bind({"B": B}), _p, _dt),
        [("B",)], label=f"{_s},p={_p},{np.dtype(_dt).name}")

for _n in ["B", 5, 0, "2*B + 1"]:
    row("random_permutation", lambda x, _n=_n: _keep(gc.random.permutation(x, _n)),
        lambda B, a, _n=_n: np.random.Generator(_gen_of()).permutation(
            gc.Shape((_n,)).bind({"B": B})[0]),
        [("B",)], label=f"n={_n}")
row("random_permutation", lambda x: _keep(gc.random.permutation(x, x.shape[0])),
    lambda B, a: np.random.Generator(_gen_of()).permutation(B), [("B", 2)], label="x.shape[0]")

# the state advanced by one call: the counter + 1, the key unchanged (the row's input only
# binds B; nothing draws, so compiling it adds no update)
row("random_advance",
    lambda x: _keep(x.graph.apply("random_advance", [gc.random.state(x)])),
    lambda B, a: _LAST["node"].graph.params["rng/state"] + np.array([0, 1], np.uint64),
    [("B",)])
