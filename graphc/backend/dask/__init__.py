"""The Dask backend: the optimised program lowered to ``dask.array``, chunked along the batch
symbol, computed on whatever scheduler is active (a ``distributed.Client``, else threads).

``gc.compile(..., backend="dask")`` or ``backend=DaskBackend(chunks=..., client=...)``.
Needs ``pip install graphc[dask]``; the rest of graphc never imports dask. See
``docs/guide/dask.md``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from graphc.backend.base import Backend, Compiled
from graphc.backend.dask import lower, runtime
from graphc.backend.dask.codegen import generate
from graphc.ir.program import Program


class DaskBackend(Backend):
    """Compile for Dask.

    ``chunks``: rows per chunk along the batch axis (None: a dask input keeps its chunks,
    a numpy input is split into one chunk per worker thread). ``client``: a
    ``distributed.Client`` (None: the default client if one exists, else dask's threads;
    a client is not pickled: an unpickled function uses the default one). ``timeout``:
    seconds one call may wait for its computation on a distributed client before raising
    ``TimeoutError`` with nothing committed (None: no limit). ``retries``: automatic
    retries of a task that raised (a worker that dies is handled by the scheduler: its tasks
    run again elsewhere). ``lazy``: return the outputs as dask arrays, not computed (for
    results larger than memory: ``da.to_zarr``, ``da.to_npy_stack``; only for programs
    without updates). ``batch``: the symbol to chunk along (default: the first input's
    leading symbolic axis). ``split_every``: the fan-in of the tree reductions (None:
    dask's default). ``fuse``: the per-chunk work of each region between sums over the
    batch runs as one task per chunk, a function compiled by graphc's numpy backend (the
    default; see ``fused.py``); False: one dask step per node (``lower.py``), as does
    ``lazy=True``.
    """

    name = "dask"

    def __init__(self, chunks: int | None = None, client: Any = None,
                 timeout: float | None = None, retries: int = 0, lazy: bool = False,
                 batch: str | None = None, split_every: int | None = None,
                 fuse: bool = True):
        if chunks is not None and (isinstance(chunks, bool) or not isinstance(
                chunks, (int, np.integer)) or chunks < 1):
            raise ValueError(f"chunks must be a positive number of rows or None, got {chunks!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or not timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds or None, got "
                             f"{timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or \
                retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if batch is not None and not isinstance(batch, str):
            raise TypeError(f"batch must be a symbol name or None, got {batch!r}")
        if split_every is not None and (not isinstance(split_every, int) or split_every < 2):
            raise ValueError(f"split_every must be an int >= 2 or None, got {split_every!r}")
        self.chunks = None if chunks is None else int(chunks)
        self.client, self.timeout, self.retries = client, timeout, int(retries)
        self.lazy, self.batch, self.split_every = bool(lazy), batch, split_every
        self.fuse = bool(fuse)

    def with_client(self, client: Any) -> DaskBackend:
        """The same options, on ``client``."""
        return DaskBackend(self.chunks, client, self.timeout, self.retries, self.lazy,
                           self.batch, self.split_every, self.fuse)

    def compile(self, prog: Program, memory: bool = True,
                check_finite: bool | str = False) -> Compiled:
        if self.lazy and prog.updates:
            raise ValueError("DaskBackend(lazy=True) returns dask arrays, not computed: a "
                             "program with updates (a training step) must compute them")
        plan = lower.plan(prog, self.batch, self.lazy)
        if self.batch is not None and not any(
                plan.axes[i] is not None for i in prog.inputs):
            raise ValueError(f"DaskBackend(batch={self.batch!r}): no input has the symbol "
                             f"{self.batch!r} in its shape")
        runner = runtime.Runner(self.client, self.timeout, self.retries)
        source, namespace = generate(prog, plan, runner, self.chunks, self.lazy,
                                     self.split_every, check_finite,
                                     getattr(self, "fuse", True))  # (pickled before fuse)
        return Compiled(source=source, namespace=namespace, plan=plan)

    def __getstate__(self) -> dict:
        """A client does not pickle: an unpickled backend uses the default client."""
        return {**self.__dict__, "client": None}

    def __repr__(self) -> str:
        return (f"DaskBackend(chunks={self.chunks}, client={self.client!r}, "
                f"timeout={self.timeout}, lazy={self.lazy}, fuse={self.fuse})")


def from_npy(path: str, chunks: int) -> Any:
    """A ``.npy`` file as a dask array chunked along axis 0, each chunk read by the worker
    that needs it through a memory map: the graph holds the path, never the data (a
    ``np.load(path, mmap_mode="r")`` array handed to ``da.from_array`` is sent whole to a
    distributed worker). The workers must see the file at ``path`` (one machine, or a
    shared file system)."""
    import dask.array as da

    path = os.fspath(path)
    head = np.load(path, mmap_mode="r")
    shape, dtype = head.shape, head.dtype
    del head
    if not shape:
        raise ValueError(f"{path}: a 0-d array has no rows to chunk")
    chunks = int(chunks)
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, got {chunks}")
    starts = range(0, shape[0], chunks)
    blocks = [da.from_delayed(_read_rows_delayed(path, s, min(s + chunks, shape[0])),
                              (min(s + chunks, shape[0]) - s, *shape[1:]), dtype)
              for s in starts]
    return da.concatenate(blocks, axis=0) if blocks else da.zeros(shape, dtype)


def _read_rows_delayed(path: str, start: int, stop: int) -> Any:
    import dask

    return dask.delayed(_read_rows, pure=True)(path, start, stop)


def _read_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a ``.npy`` file, copied out of a memory map."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


__all__ = ["DaskBackend", "from_npy"]
