"""ONNX import and export (``pip install graphc[onnx]``): ``gc.onnx.load`` turns a model into
a ``gc.Graph`` (to draw, run, differentiate and fine-tune with numpy), ``gc.onnx.save`` and
``gc.onnx.to_model`` turn a graph, tensors or a Function into a model for onnxruntime.

The ``onnx`` package is imported when one of these is called, never by ``import graphc``.
"""

from __future__ import annotations

from typing import Any


def load(model: Any, **options: Any):
    """An ONNX model (a path, bytes or an ``onnx.ModelProto``) as a ``gc.Graph``; see
    ``graphc.onnx.importer.load``."""
    from graphc.onnx.importer import load as _load
    return _load(model, **options)


def to_model(target: Any, **options: Any):
    """A Graph, Tensors or a Function as an ``onnx.ModelProto``; see
    ``graphc.onnx.export.to_model``."""
    from graphc.onnx.export import to_model as _to_model
    return _to_model(target, **options)


def save(target: Any, path: Any, **options: Any) -> None:
    """``to_model(target)`` written to ``path``; see ``graphc.onnx.export.save``."""
    from graphc.onnx.export import save as _save
    _save(target, path, **options)


__all__ = ["load", "save", "to_model"]
