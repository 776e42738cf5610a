"""Tensor: a light handle on one node of a graph, with numpy-style operators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Dim, Shape, numel
from graphc.ir.display import svg_of

if TYPE_CHECKING:
    from graphc.ir.graph import Graph
    from graphc.ir.node import Node


class _Builders:
    """The op builders that Tensor's operators and methods call (``add`` for ``+``).

    ``graphc.ops`` sits above the IR, so it installs itself here when imported
    (``install_builders``) instead of the IR importing it."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("graphc.ops is not imported: import graphc first")


_ops: Any = _Builders()


def install_builders(builders: Any) -> None:
    """Make ``builders`` (the ``graphc.ops`` module) what Tensor's operators call."""
    global _ops
    _ops = builders


class Tensor:
    """A symbolic value: node ``id`` of ``graph``. Shapes and dtypes are known when built."""

    __slots__ = ("graph", "id")
    # make numpy defer to our reflected operators: ndarray + Tensor -> Tensor.__radd__
    __array_ufunc__ = None

    def __new__(cls, graph: Graph, id: int) -> Tensor:
        # one handle per node: ``==`` is elementwise, so dicts and sets (``updates={W: ...}``)
        # must find a tensor by identity, which they try before equality
        handles = graph.__dict__.setdefault("_handles", {})  # (set before a copy's state)
        t = handles.get(id)
        if t is None:
            t = super().__new__(cls)
            t.graph, t.id = graph, id
            handles[id] = t
        return t

    # ------------------------------------------------------------ properties
    @property
    def node(self) -> Node:
        return self.graph.node(self.id)

    @property
    def shape(self) -> Shape:
        """The inferred shape, a ``gc.Shape`` such as ``(B, 16)``."""
        return self.node.shape

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.node.dtype

    @property
    def name(self) -> str | None:
        return self.node.name

    @property
    def op(self) -> str:
        return self.node.op

    def __repr__(self) -> str:
        n = self.node
        label = f" {n.name!r}" if n.name else ""
        return f"<gc.Tensor %{n.id} {n.op}{label} {n.shape} {n.dtype}>"

    # == and != are elementwise, as in numpy and torch; a Tensor hashes by identity (one
    # handle per node), so it stays a dict key: updates={W: W - lr * gW}
    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ops.equal(self, o)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _ops.not_equal(self, o)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(
            "a symbolic Tensor has no truth value until it is computed: `a == b` and `a < b` "
            "are elementwise comparisons (bool Tensors, for gc.where); use `a is b` to ask "
            "whether two tensors are the same node")

    def __iter__(self):
        raise TypeError("a symbolic Tensor cannot be iterated; index it (t[0]) instead")

    def __len__(self) -> int:
        raise TypeError("len() of a symbolic Tensor is not defined; use t.shape[0]")

    def _repr_svg_(self) -> str | None:
        """The diagram of what this tensor is computed from, for Jupyter."""
        return svg_of(self)

    def __reduce__(self):
        return (Tensor, (self.graph, self.id))

    # ------------------------------------------------------------- operators
    def __add__(self, o: Any) -> Tensor: return _ops.add(self, o)
    def __radd__(self, o: Any) -> Tensor: return _ops.add(o, self)
    def __sub__(self, o: Any) -> Tensor: return _ops.subtract(self, o)
    def __rsub__(self, o: Any) -> Tensor: return _ops.subtract(o, self)
    def __mul__(self, o: Any) -> Tensor: return _ops.multiply(self, o)
    def __rmul__(self, o: Any) -> Tensor: return _ops.multiply(o, self)
    def __truediv__(self, o: Any) -> Tensor: return _ops.divide(self, o)
    def __rtruediv__(self, o: Any) -> Tensor: return _ops.divide(o, self)
    def __pow__(self, o: Any) -> Tensor: return _ops.power(self, o)
    def __rpow__(self, o: Any) -> Tensor: return _ops.power(o, self)
    def __matmul__(self, o: Any) -> Tensor: return _ops.matmul(self, o)
    def __rmatmul__(self, o: Any) -> Tensor: return _ops.matmul(o, self)
    def __neg__(self) -> Tensor: return _ops.negative(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return _ops.abs(self)
    def __lt__(self, o: Any) -> Tensor: return _ops.less(self, o)
    def __le__(self, o: Any) -> Tensor: return _ops.less_equal(self, o)
    def __gt__(self, o: Any) -> Tensor: return _ops.greater(self, o)
    def __ge__(self, o: Any) -> Tensor: return _ops.greater_equal(self, o)

    def __mod__(self, o: Any) -> Tensor:
        return _ops.remainder(self, o)

    def __rmod__(self, o: Any) -> Tensor:
        return _ops.remainder(o, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # --------------------------------------------------------------- methods
    @property
    def T(self) -> Tensor:
        """Transpose of a 2-D tensor. Any other rank raises: use ``.mT`` for the last two axes."""
        if self.ndim != 2:
            from graphc.ir.node import at_user

            raise ShapeError(at_user(
                f".T on a tensor of shape {self.shape} (rank {self.ndim}): numpy's .T reverses "
                "ALL axes, which silently moves a batch axis. Use .mT or "
                "gc.swapaxes(t, -1, -2) to swap the last two axes, or gc.transpose(t, axes) "
                "to say exactly which."
            ))
        return _ops.transpose(self)

    @property
    def mT(self) -> Tensor:
        """Swap the last two axes (a batch of matrix transposes)."""
        return _ops.swapaxes(self, -1, -2)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return _ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return _ops.argmin(self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, *, ddof: Any = 0, keepdims: bool = False) -> Tensor:
        return _ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Any = None, *, ddof: Any = 0, keepdims: bool = False) -> Tensor:
        return _ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> Tensor:
        return _ops.cumsum(self, axis=axis)

    def cumprod(self, axis: Any = None) -> Tensor:
        return _ops.cumprod(self, axis=axis)

    def any(self, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return _ops.any(self, axis=axis, keepdims=keepdims)

    def all(self, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return _ops.all(self, axis=axis, keepdims=keepdims)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - numpy's names
        """Values limited to [min, max] (``gc.clip``; either bound may be None)."""
        return _ops.clip(self, min, max)

    def take(self, indices: Any, axis: Any = None) -> Tensor:
        return _ops.take(self, indices, axis=axis)

    def sort(self, axis: int = -1) -> Tensor:
        """The sorted values (``gc.sort``: a new tensor, as ``np.sort``; graphc values are never
        changed in place, so unlike ``ndarray.sort`` this returns the result)."""
        return _ops.sort(self, axis=axis)

    def argsort(self, axis: int = -1) -> Tensor:
        return _ops.argsort(self, axis=axis)

    def topk(self, k: Any, axis: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        """``(values, indices)`` of the k largest (or smallest) entries (``gc.topk``)."""
        return _ops.topk(self, k, axis=axis, largest=largest, sorted=sorted)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return _ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return _ops.trace(self, offset, axis1, axis2)

    def dot(self, other: Any) -> Tensor:
        return _ops.dot(self, other)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return _ops.swapaxes(self, axis1, axis2)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _ops.transpose(self, axes if axes else None)

    def astype(self, dtype: Any) -> Tensor:
        return _ops.astype(self, dtype)

    def squeeze(self, axis: Any = None) -> Tensor:
        return _ops.squeeze(self, axis)

    def flatten(self) -> Tensor:
        """The elements as one axis (numpy's ``flatten``; a view here, never a copy)."""
        return _ops.reshape(self, (-1,))

    def ravel(self) -> Tensor:
        return _ops.reshape(self, (-1,))

    @property
    def size(self) -> int | Dim:
        """The number of elements: an int, or a Dim for a symbolic shape (``B*T*16``);
        ``gc.numel(t)`` is the count as a tensor at run time."""
        return numel(self.shape)
