"""numba's compilation of a program's kernels is cached on disk, keyed by the program's
canonical form: a second process compiling the same graph loads the kernels from the cache
instead of compiling them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    import graphc as gc
    g = gc.Graph("curve")
    x = g.input("x", ("B", 1)); y = g.input("y", ("B", 1))
    rng = np.random.default_rng(0)
    ps = [g.param("W0", rng.standard_normal((1, 64))), g.param("b0", np.zeros(64)),
          g.param("W1", rng.standard_normal((64, 64)) / 8), g.param("b1", np.zeros(64)),
          g.param("W2", rng.standard_normal((64, 1)) / 8), g.param("b2", np.zeros(1))]
    h = gc.tanh(x @ ps[0] + ps[1])
    h = gc.tanh(h @ ps[2] + ps[3])
    loss = gc.mean((h @ ps[4] + ps[5] - y) ** 2)
    grads = gc.grad(loss, ps)
    t0 = time.perf_counter()
    f = gc.compile(loss, [x, y], updates={p: p - 0.01 * d for p, d in zip(ps, grads)},
                   backend="numba")
    t1 = time.perf_counter()
    loss = float(f(np.ones((8, 1)), np.zeros((8, 1))))
    t2 = time.perf_counter()
    kernels = [v for k, v in f._fn.__globals__.items() if k.startswith(("region_", "commit_"))]
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    print(json.dumps({"compile_s": t1 - t0, "first_call_s": t2 - t1, "hits": hits,
                      "misses": misses, "loss": loss, "kernels": len(kernels)}))
""")


def _run(cache: str) -> dict:
    env = dict(os.environ, GRAPHC_NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_second_process_loads_the_kernels_from_the_cache(tmp_path):
    cold = _run(str(tmp_path))
    warm = _run(str(tmp_path))
    assert cold["kernels"] == warm["kernels"] >= 1  # the curve step: one kernel, commit merged
    assert cold["misses"] == cold["kernels"] and cold["hits"] == 0
    assert warm["hits"] == warm["kernels"] and warm["misses"] == 0
    assert warm["loss"] == cold["loss"]
    assert warm["first_call_s"] < cold["first_call_s"]
    print(f"first call: cold {cold['first_call_s']:.2f} s, from the cache "
          f"{warm['first_call_s']:.2f} s")
    modules = [p for p in os.listdir(tmp_path) if p.startswith("graphc_nb_")]
    assert len(modules) == 1, modules  # content-addressed: written once
