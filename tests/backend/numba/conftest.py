"""The numba backend's tests: numba's compiled kernels are cached in a directory of this test
session (a cold cache, as in CI); the compiled Functions are shared per module (JIT costs
seconds per kernel)."""

import os

import pytest

pytest.importorskip("numba")


@pytest.fixture(scope="session", autouse=True)
def numba_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("graphc_numba_cache")
    old = os.environ.get("GRAPHC_NUMBA_CACHE_DIR")
    os.environ["GRAPHC_NUMBA_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GRAPHC_NUMBA_CACHE_DIR", None)
    else:
        os.environ["GRAPHC_NUMBA_CACHE_DIR"] = old
