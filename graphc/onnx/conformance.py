"""The ONNX backend node tests run through ``gc.onnx.load`` and ``gc.compile``: shared by
``tests/onnx/test_node_suite.py`` and ``scripts/onnx_conformance.py``.

The onnx wheel ships the generators of its node tests (``onnx.backend.test.case.node``):
``cases()`` collects them once per process. ``run_case`` classifies one case:

- ``excluded``: a dtype graphc does not compute with (``EXCLUDED_TYPES``: bfloat16, the
  float8 and 4-bit types, strings, complex numbers, sequences, optionals and maps);
- ``old opset``: the model's default-domain opset is older than 13 (refused by design);
- ``unsupported``: an op type without a converter;
- ``pass`` / ``fail``: compared as onnx's backend runner compares (``numpy.testing``,
  ``rtol``/``atol`` of the case, 1e-3/1e-7 by default), dtypes and shapes equal.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: ONNX element types whose cases are excluded (graphc has no such dtype)
EXCLUDED_TYPES = {
    8: "string", 14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn",
    18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
    23: "float4e2m1", 24: "float8e8m0", 25: "uint2", 26: "int2",
}

_CASES: list[Any] | None = None


def cases() -> list[Any]:
    """The onnx wheel's node test cases (collected once per process, ~1,900)."""
    global _CASES
    if _CASES is None:
        from onnx.backend.test.case import node

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            _CASES = list(node.collect_testcases(None))
    return _CASES


@dataclass
class Outcome:
    """One case's result: ``status`` (pass, fail, unsupported, excluded, old opset), the op
    types of its model, and why it did not pass."""

    name: str
    status: str
    op_types: tuple[str, ...]
    reason: str = ""


def _excluded_type(vtype: Any) -> str | None:
    kind = vtype.WhichOneof("value")
    if kind == "tensor_type":
        return EXCLUDED_TYPES.get(vtype.tensor_type.elem_type)
    if kind in ("sequence_type", "optional_type", "map_type", "sparse_tensor_type"):
        return kind.replace("_type", "")
    return None


def excluded_reason(model: Any) -> str | None:
    """The excluded dtype a model's inputs, outputs, initializers or values use, else None."""
    g = model.graph
    for v in list(g.input) + list(g.output) + list(g.value_info):
        why = _excluded_type(v.type)
        if why:
            return why
    for t in g.initializer:
        if t.data_type in EXCLUDED_TYPES:
            return EXCLUDED_TYPES[t.data_type]
    for n in g.node:
        for a in n.attribute:
            if a.HasField("t") and a.t.data_type in EXCLUDED_TYPES:
                return EXCLUDED_TYPES[a.t.data_type]
            if a.name in ("to", "output_datatype", "dtype") and a.i in EXCLUDED_TYPES:
                return EXCLUDED_TYPES[a.i]
    return None


def op_types(model: Any) -> tuple[str, ...]:
    return tuple(sorted({n.op_type for n in model.graph.node}))


def run_case(case: Any) -> Outcome:
    """Load, compile and run one node test case; compare with its stored outputs."""
    from graphc.backend.function import compile as gc_compile
    from graphc.onnx.importer import MIN_OPSET, UnsupportedOpError

    model = case.model
    ops = op_types(model)
    why = excluded_reason(model)
    if why:
        return Outcome(case.name, "excluded", ops, why)
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if versions and versions[0] < MIN_OPSET:
        return Outcome(case.name, "old opset", ops, f"opset {versions[0]}")
    data = [([_array(a) for a in i], [_array(a) for a in o]) for i, o in case.data_sets]
    names = [v.name for v in model.graph.input
             if v.name not in {t.name for t in model.graph.initializer}]
    frozen: dict[str, Any] = {}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            g = _load(model, names, data, frozen)
            outs = list(g.outputs.values())
            fn = gc_compile(outs, inputs=list(g.inputs.values()))
            for inputs, expected in data:
                got = fn(*[a for n, a in zip(names, inputs) if n not in frozen])
                _compare(got, expected, case)
    except UnsupportedOpError as e:
        return Outcome(case.name, "unsupported", ops,
                       "no converter for " + ", ".join(sorted({k for _, k in e.ops})))
    except AssertionError as e:
        return Outcome(case.name, "fail", ops, _short(f"wrong result: {e}"))
    except Exception as e:  # noqa: BLE001 - a case that fails, however it fails
        return Outcome(case.name, "fail", ops, _short(f"{type(e).__name__}: {e}"))
    if not frozen:
        return Outcome(case.name, "pass", ops)
    how = "shape inputs" if frozen.pop(_BROAD, None) is None else "all integer/scalar inputs"
    return Outcome(case.name, "pass", ops, f"{how} given as constants: " + ", ".join(frozen))


#: a key of ``frozen`` saying that inputs were given as constants wholesale
_BROAD = "\0broad"


def _array(a: Any) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(a) if isinstance(a, TensorProto) else np.asarray(a)


def _load(model: Any, names: list[str], data: list[Any], frozen: dict[str, Any]) -> Any:
    """``gc.onnx.load(model)``; where a shape operand (axes, k, a shape) is a graph input
    whose value every data set agrees on, that input is given as a constant (graphc's shapes
    are static) and the load retried."""
    from graphc.onnx.importer import DataDependentError, load

    while True:
        try:
            return load(model, constants={k: v for k, v in frozen.items() if k != _BROAD})
        except DataDependentError as e:
            if e.value in names and e.value not in frozen:
                todo = [e.value]
            else:  # computed from inputs: give the integer (then the scalar) inputs
                frozen[_BROAD] = True
                todo = [n for k, n in enumerate(names)
                        if n not in frozen and data[0][0][k].dtype.kind in "iu"]
                todo = todo or [n for k, n in enumerate(names)
                                if n not in frozen and data[0][0][k].size == 1]
            if not todo:
                raise
            for name in todo:
                k = names.index(name)
                values = [inputs[k] for inputs, _ in data]
                if any(not np.array_equal(v, values[0]) for v in values[1:]):
                    raise
                frozen[name] = values[0]


def _compare(got: list[Any], expected: list[Any], case: Any) -> None:
    rtol = getattr(case, "rtol", None) or 1e-3
    atol = getattr(case, "atol", None) or 1e-7
    if len(got) != len(expected):
        raise AssertionError(f"{len(got)} outputs, expected {len(expected)}")
    for k, (a, b) in enumerate(zip(got, expected)):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype:
            raise AssertionError(f"output {k}: dtype {a.dtype}, expected {b.dtype}")
        if a.shape != b.shape:
            raise AssertionError(f"output {k}: shape {a.shape}, expected {b.shape}")
        if b.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(a, b)


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def run_all(selected: list[Any] | None = None) -> list[Outcome]:
    return [run_case(c) for c in (cases() if selected is None else selected)]
