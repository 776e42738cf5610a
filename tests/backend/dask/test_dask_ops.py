"""The Dask backend against the numpy backend, op by op: every row of the op table
(tests/ops/test_op_table.py) with the batch symbol B in an operand's shape (the others run
locally, with numpy), chunked 2 rows at a time, at B = 1 and B = 5 (three chunks, the last
one short), on dask's threaded scheduler, with the fused lowering (one task per chunk per
region) and the per-node one; outputs and updated params (a generator's state) equal."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

pytest.importorskip("dask.array")

from graphc.backend.dask import DaskBackend  # noqa: E402
from tests.ops.test_op_table import ROWS, _input_dtype, _make  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


def _build(r):
    g = gc.Graph(r.op)
    xs = [g.input(f"x{k}", s, dtype=_input_dtype(kind, np.float64))
          for k, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True))]
    out = r.build(*xs)
    binder = [] if any("B" in s for s in r.shapes) else [g.input("bind_B", ("B",))]
    return out, xs + binder, len(binder)


BATCHED = [r for r in ROWS if any("B" in str(d) for s in r.shapes for d in s)]


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "per-node"])
@pytest.mark.parametrize("r", BATCHED, ids=[r.id for r in BATCHED])
def test_op_row_matches_numpy(r, fuse):
    out, inputs, n_binder = _build(r)
    want_fn = gc.compile(out, inputs=inputs)
    got_fn = gc.compile(out, inputs=inputs, backend=DaskBackend(chunks=2, fuse=fuse))
    rng = np.random.default_rng(0)
    for B in (1, 5):
        arrays = [_make(s, kind, rng, np.float64, B)
                  for s, kind in zip(r.shapes, r.data, strict=True)]
        arrays += [np.zeros(B)] * n_binder
        params = out.graph.params
        before = {k: v.copy() for k, v in params.items()}
        with np.errstate(all="ignore"):
            want = want_fn(*arrays)
        after = {k: v.copy() for k, v in params.items()}
        for k, v in before.items():  # the generator state: the dask call draws the same
            params[k][...] = v
        with np.errstate(all="ignore"):
            got = got_fn(*arrays)
        for k, v in after.items():
            np.testing.assert_array_equal(params[k], v, err_msg=f"param {k}, B={B}")
        assert isinstance(got, np.ndarray), type(got)
        assert got.shape == want.shape and got.dtype == want.dtype, f"B={B}"
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"B={B}")
