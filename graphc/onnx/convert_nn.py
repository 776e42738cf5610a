"""The ONNX converters of the neural-network op types: activations, softmax, convolution,
pooling, normalisation, dropout, the recurrent layers (unrolled over a static sequence
length), resizing, the depth/space shuffles and attention.

Each converter composes graphc ops (``gc.conv``, ``gc.max_pool``, ``gc.softmax``, ...), so
every imported model has gradients. Window geometry (``auto_pad``, ``pads``, ``ceil_mode``)
follows the ONNX spec and its reference implementation: padding is kept as ``(begin,
end)`` pairs, which may differ; where graphc's pooling ops cannot take them (asymmetric
pads, a dilated average) the input is padded explicitly and the window sums are a
depthwise conv with a kernel of ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc import ops as gc
from graphc.errors import ShapeError
from graphc.ir.dims import Dim
from graphc.onnx.registry import OnnxNode, converter
from graphc.ops.random import uniform

# =============================================================================== helpers


def _spatial(ctx: Any, node: OnnxNode, x: Any, what: str = "the input") -> tuple[int, ...]:
    """x's spatial sizes (axes 2..), which must be ints (not symbols)."""
    sizes = tuple(x.shape[2:])
    if not all(isinstance(s, (int, np.integer)) for s in sizes):
        raise ctx.error(node, f"{what} {x.shape} needs static spatial sizes here "
                              f"(auto_pad, ceil_mode or output_shape)")
    return tuple(int(s) for s in sizes)


def _ints(node: OnnxNode, name: str, default: Any) -> tuple[int, ...]:
    v = node.attr(name)
    return tuple(int(i) for i in (default if v is None else v))


def _text(node: OnnxNode, name: str, default: str) -> str:
    """A string attribute as text."""
    v = node.attr(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def _window(ctx: Any, node: OnnxNode, x: Any, kernel: tuple[int, ...], *, conv: bool
            ) -> tuple[list[tuple[int, int]], tuple[int, ...], tuple[int, ...]]:
    """The (begin, end) pads, strides and dilations of a conv or pooling node. ``SAME_*``
    pads make ``ceil(n / stride)`` outputs (the extra padding after for UPPER, before for
    LOWER); a pooling window counts its kernel without dilation there, as ONNX's
    reference does."""
    nd = len(kernel)
    strides = _ints(node, "strides", (1,) * nd)
    dilations = _ints(node, "dilations", (1,) * nd)
    if len(strides) != nd or len(dilations) != nd:
        raise ctx.error(node, f"strides {strides} / dilations {dilations} need {nd} entries")
    auto = _text(node, "auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if conv and all(s == 1 for s in strides):
            totals = [d * (k - 1) for k, d in zip(kernel, dilations)]
        else:
            n = _spatial(ctx, node, x)
            totals = []
            for ni, k, s, d in zip(n, kernel, strides, dilations):
                out = -(-ni // s)
                eff = (k - 1) * d + 1 if conv else k
                totals.append(max(0, (out - 1) * s + eff - ni))
        upper = auto == "SAME_UPPER"
        pads = [(t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in totals]
    elif auto == "VALID":
        pads = [(0, 0)] * nd
    elif auto == "NOTSET":
        flat = _ints(node, "pads", (0,) * (2 * nd))
        if len(flat) != 2 * nd or min(flat, default=0) < 0:
            raise ctx.error(node, f"pads {list(flat)} must be {2 * nd} ints >= 0")
        pads = list(zip(flat[:nd], flat[nd:]))
    else:
        raise ctx.error(node, f"auto_pad {auto!r} is not NOTSET, SAME_UPPER, SAME_LOWER or "
                              f"VALID")
    return pads, strides, dilations


def _out_sizes(n, kernel, pads, strides, dilations, ceil_mode: bool) -> list[int]:
    """Pooling output sizes (ONNX's reference rule: a ceil-mode window must start inside the
    input or its leading padding)."""
    out = []
    for ni, k, (lo, hi), s, d in zip(n, kernel, pads, strides, dilations):
        span = ni + lo + hi - d * (k - 1) - 1
        m = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (m - 1) * s >= ni + lo:
            m -= 1
        out.append(m)
    return out


def _has(node: OnnxNode, i: int) -> bool:
    """Whether the node has (optional) operand ``i``."""
    return len(node.inputs) > i and node.inputs[i] != ""


def _bcast_channel(v: Any, ndim: int) -> Any:
    """A per-channel vector (C,) shaped to broadcast on axis 1 of a rank-``ndim`` tensor."""
    return gc.reshape(v, (-1,) + (1,) * (ndim - 2))


def _const(like: Any, value: Any) -> Any:
    """A constant in ``like``'s graph and dtype."""
    return like.graph.constant(np.asarray(value, dtype=like.dtype))


def _float(node: OnnxNode, name: str, default: float) -> float:
    return float(node.attr(name, default))


# =========================================================================== activations


@converter("Relu")
def _relu(ctx, node):
    return [gc.maximum(ctx.tensor(node, 0), 0)]


@converter("LeakyRelu")
def _leaky_relu(ctx, node):
    x = ctx.tensor(node, 0)
    return [gc.where(x >= 0, x, x * _float(node, "alpha", 0.01))]


@converter("PRelu")
def _prelu(ctx, node):
    x, slope = ctx.tensor(node, 0), ctx.tensor(node, 1)
    return [gc.where(x >= 0, x, x * slope)]


def _elu(x, alpha: float):
    return gc.where(x > 0, x, gc.expm1(gc.minimum(x, 0)) * alpha)


@converter("Elu")
def _elu_node(ctx, node):
    return [_elu(ctx.tensor(node, 0), _float(node, "alpha", 1.0))]


@converter("Selu")
def _selu(ctx, node):
    x = ctx.tensor(node, 0)
    alpha = _float(node, "alpha", 1.67326319217681884765625)
    gamma = _float(node, "gamma", 1.05070102214813232421875)
    return [_elu(x, alpha) * gamma]


@converter("Celu")
def _celu(ctx, node):
    x = ctx.tensor(node, 0)
    alpha = _float(node, "alpha", 1.0)
    return [gc.where(x > 0, x, gc.expm1(gc.minimum(x, 0) / alpha) * alpha)]


def _gelu(x, approximate: str):
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * (gc.tanh(inner) + 1) * 0.5
    return x * (gc.erf(x * (1 / math.sqrt(2))) + 1) * 0.5


@converter("Gelu")
def _gelu_node(ctx, node):
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.error(node, f"approximate {approximate!r} is not 'none' or 'tanh'")
    return [_gelu(ctx.tensor(node, 0), approximate)]


@converter("Sigmoid")
def _sigmoid(ctx, node):
    return [gc.sigmoid(ctx.tensor(node, 0))]


def _hard_sigmoid(x, alpha: float, beta: float):
    return gc.clip(x * alpha + beta, 0, 1)


@converter("HardSigmoid")
def _hard_sigmoid_node(ctx, node):
    return [_hard_sigmoid(ctx.tensor(node, 0), _float(node, "alpha", 0.2),
                          _float(node, "beta", 0.5))]


@converter("HardSwish")
def _hard_swish(ctx, node):
    x = ctx.tensor(node, 0)
    return [x * _hard_sigmoid(x, 1 / 6, 0.5)]


@converter("Softplus")
def _softplus(ctx, node):
    return [gc.softplus(ctx.tensor(node, 0))]


@converter("Softsign")
def _softsign(ctx, node):
    x = ctx.tensor(node, 0)
    return [x / (gc.abs(x) + 1)]


@converter("Mish")
def _mish(ctx, node):
    x = ctx.tensor(node, 0)
    return [x * gc.tanh(gc.softplus(x))]


@converter("ThresholdedRelu")
def _thresholded_relu(ctx, node):
    x = ctx.tensor(node, 0)
    return [gc.where(x > _float(node, "alpha", 1.0), x, 0)]


@converter("Swish")
def _swish(ctx, node):
    x = ctx.tensor(node, 0)
    return [x * gc.sigmoid(x * _float(node, "alpha", 1.0))]


@converter("Shrink")
def _shrink(ctx, node):
    x = ctx.tensor(node, 0)
    lambd, bias = _float(node, "lambd", 0.5), _float(node, "bias", 0.0)
    return [gc.where(x < -lambd, x + bias, gc.where(x > lambd, x - bias, 0)).astype(x.dtype)]


# =============================================================================== softmax


def _axiswise(ctx, node, fn):
    """Softmax-like ops: along one axis (opset 13's semantics; older opsets, which coerced
    the input to 2-D, are not imported)."""
    x = ctx.tensor(node, 0)
    axis = int(node.attr("axis", -1))
    if not -x.ndim <= axis < x.ndim:
        raise ctx.error(node, f"axis {axis} is out of range for {x.shape}")
    return [fn(x, axis)]


def _prod(dims) -> Any:
    out: Any = 1
    for d in dims:
        out = out * d
    return out


@converter("Softmax")
def _softmax(ctx, node):
    return _axiswise(ctx, node, lambda x, a: gc.softmax(x, axis=a))


@converter("LogSoftmax")
def _log_softmax(ctx, node):
    return _axiswise(ctx, node, lambda x, a: gc.log_softmax(x, axis=a))


def _hardmax(x, axis: int):
    hot = gc.one_hot(gc.argmax(x, axis=axis), x.shape[axis], dtype=x.dtype)
    return gc.moveaxis(hot, -1, axis)


@converter("Hardmax")
def _hardmax_node(ctx, node):
    return _axiswise(ctx, node, _hardmax)


# =========================================================================== convolution


def _kernel(ctx, node, w, nd: int) -> tuple[int, ...]:
    """The kernel size: the weight's, which ``kernel_shape`` (when given) must equal."""
    k = tuple(w.shape[2:])
    if len(k) != nd or not all(isinstance(i, (int, np.integer)) for i in k):
        raise ctx.error(node, f"the weight {w.shape} needs {nd} static kernel sizes")
    k = tuple(int(i) for i in k)
    given = node.attr("kernel_shape")
    if given is not None and tuple(int(i) for i in given) != k:
        raise ctx.error(node, f"kernel_shape {list(given)} does not match the weight "
                              f"{w.shape}", ShapeError)
    return k


@converter("Conv")
def _conv(ctx, node):
    x, w, b = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ctx.error(node, f"Conv takes (N, C, *spatial) with 1 to 3 spatial axes, got "
                              f"{x.shape}")
    kernel = _kernel(ctx, node, w, nd)
    pads, strides, dilations = _window(ctx, node, x, kernel, conv=True)
    group = int(node.attr("group", 1))
    return [gc.conv(x, w, b, stride=strides, padding=tuple(pads), dilation=dilations,
                    groups=group)]


@converter("ConvTranspose")
def _conv_transpose(ctx, node):
    x, w, b = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ctx.error(node, f"ConvTranspose takes (N, C, *spatial) with 1 to 3 spatial "
                              f"axes, got {x.shape}")
    kernel = _kernel(ctx, node, w, nd)
    strides = _ints(node, "strides", (1,) * nd)
    dilations = _ints(node, "dilations", (1,) * nd)
    extra = _ints(node, "output_padding", (0,) * nd)
    group = int(node.attr("group", 1))
    auto = _text(node, "auto_pad", "NOTSET")
    output_shape = node.attr("output_shape")
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if output_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        n = _spatial(ctx, node, x)
        if output_shape is not None:
            want = [int(v) for v in output_shape][-nd:]
        else:
            want = [ni * s for ni, s in zip(n, strides)]
        totals = [s * (ni - 1) + e + sp - o
                  for ni, s, e, sp, o in zip(n, strides, extra, spans, want)]
        if auto == "SAME_UPPER":
            pads = [(t // 2, t - t // 2) for t in totals]
        else:
            pads = [(t - t // 2, t // 2) for t in totals]
    elif auto == "VALID" or auto == "NOTSET":
        flat = _ints(node, "pads", (0,) * (2 * nd)) if auto == "NOTSET" else (0,) * (2 * nd)
        if len(flat) != 2 * nd:
            raise ctx.error(node, f"pads {list(flat)} must be {2 * nd} ints")
        pads = list(zip(flat[:nd], flat[nd:]))
    else:
        raise ctx.error(node, f"auto_pad {auto!r} is not NOTSET, SAME_UPPER, SAME_LOWER or "
                              f"VALID")
    # the full transposed conv, then its (begin, end - output_padding) cropped (or padded
    # with zeros where negative), then the bias
    y = gc.conv_transpose(x, w, None, stride=strides, padding=0, dilation=dilations,
                          groups=group)
    y = _crop(y, [(lo, hi - e) for (lo, hi), e in zip(pads, extra)])
    if b is not None:
        y = y + _bcast_channel(b, y.ndim)
    return [y]


def _crop(y, pads: list[tuple[int, int]]):
    """y's spatial axes with ``lo`` entries dropped at the start and ``hi`` at the end (a
    negative count pads zeros instead)."""
    index: list[Any] = [slice(None), slice(None)]
    grow = [(0, 0), (0, 0)]
    for lo, hi in pads:
        index.append(slice(max(lo, 0), -hi if hi > 0 else None))
        grow.append((max(-lo, 0), max(-hi, 0)))
    if any(lo > 0 or hi > 0 for lo, hi in pads):
        y = y[tuple(index)]
    if any(a or b for a, b in grow):
        y = gc.pad(y, tuple(grow))
    return y


# =============================================================================== pooling


def _pool_geometry(ctx, node, x):
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ctx.error(node, f"{node.op_type} takes (N, C, *spatial) with 1 to 3 spatial "
                              f"axes, got {x.shape}")
    kernel = node.attr("kernel_shape")
    if kernel is None or len(kernel) != nd:
        raise ctx.error(node, f"kernel_shape {kernel} needs {nd} entries")
    kernel = tuple(int(k) for k in kernel)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    pads, strides, dilations = _window(ctx, node, x, kernel, conv=False)
    return kernel, pads, strides, dilations, ceil_mode


def _torch_padding(kernel, pads) -> tuple[int, ...] | None:
    """The one symmetric padding graphc's pooling takes, or None when ``pads`` is not that."""
    if all(lo == hi and 2 * lo <= k for (lo, hi), k in zip(pads, kernel)):
        return tuple(lo for lo, _ in pads)
    return None


def _framed(ctx, node, x, kernel, pads, strides, dilations, ceil_mode, fill):
    """x padded with ``fill`` to hold every window (ceil-mode windows too), and the output
    sizes; windows then need no padding."""
    n = tuple(x.shape[2:])
    if not all(isinstance(s, (int, np.integer)) for s in n):
        if ceil_mode:   # the windows past the end depend on the sizes
            _spatial(ctx, node, x)
        widths = [(0, 0), (0, 0), *pads]
        return gc.pad(x, tuple(widths), constant_values=fill), None
    m = _out_sizes(n, kernel, pads, strides, dilations, ceil_mode)
    widths = [(0, 0), (0, 0)]
    for ni, mi, k, (lo, hi), s, d in zip(n, m, kernel, pads, strides, dilations):
        need = (mi - 1) * s + (k - 1) * d + 1
        widths.append((lo, hi + max(0, need - (ni + lo + hi))))
    if any(a or b for a, b in widths):
        x = gc.pad(x, tuple(widths), constant_values=fill)
    return x, m


def _float_input(x):
    """x as a float tensor (ints pooled exactly in float64), and the dtype to return."""
    if np.dtype(x.dtype).kind == "f":
        return x, None
    return gc.astype(x, np.float64), x.dtype


@converter("MaxPool")
def _max_pool(ctx, node):
    x0 = ctx.tensor(node, 0)
    kernel, pads, strides, dilations, ceil_mode = _pool_geometry(ctx, node, x0)
    x, back = _float_input(x0)
    want_indices = len(node.outputs) > 1 and node.outputs[1] != ""
    padding = _torch_padding(kernel, pads)
    if padding is not None:
        y = gc.max_pool(x, kernel, strides, padding, dilations, ceil_mode,
                        return_indices=want_indices)
        lows = (0,) * len(kernel)
        framed = x
    else:
        framed, _ = _framed(ctx, node, x, kernel, pads, strides, dilations, ceil_mode,
                            -np.inf)
        y = gc.max_pool(framed, kernel, strides, 0, dilations, return_indices=want_indices)
        lows = tuple(lo for lo, _ in pads)
    indices = None
    if want_indices:
        y, flat = y
        indices = _onnx_indices(ctx, node, x, framed, flat, lows)
    if back is not None:
        y = gc.astype(y, back)
    return [y, indices] if len(node.outputs) > 1 else [y]


def _onnx_indices(ctx, node, x, framed, flat, lows):
    """graphc's flat index of each max within its (n, c) plane of ``framed`` (x padded by
    ``lows`` at the start of each spatial axis) as ONNX's: a flat index into the whole of
    x, row-major (``storage_order`` 0) or column-major within the plane (1)."""
    n = tuple(x.shape[2:])
    order = int(node.attr("storage_order", 0))
    if order or any(lows):
        sizes = _spatial(ctx, node, framed, "the padded input")
        n = _spatial(ctx, node, x)
        coords = []
        for size in reversed(sizes):   # the padded plane's coordinates, last axis first
            c = gc.remainder(flat, size)
            coords.append(c)
            flat = gc.astype((flat - c) / size, c.dtype)
        coords = [c - lo for c, lo in zip(reversed(coords), lows)]
        axes = list(range(len(n)))
        if order:
            axes.reverse()
        flat, step = None, 1
        for a in reversed(axes):      # the last axis of the order varies fastest
            term = coords[a] * step
            flat = term if flat is None else flat + term
            step *= n[a]
    plane = _prod(n)
    nc = x.shape[0] * x.shape[1]
    base = gc.reshape(x.graph.arange(nc) * plane, (x.shape[0], x.shape[1]) + (1,) * len(n))
    return flat + base


def _window_sums(x, kernel, strides, dilations):
    """Each window's sum over a (pre-padded) x: a depthwise conv with a kernel of ones."""
    N, C = x.shape[:2]
    planes = gc.reshape(x, (N * C, 1, *x.shape[2:]))
    ones = _const(x, np.ones((1, 1, *kernel)))
    s = gc.conv(planes, ones, stride=strides, dilation=dilations)
    return gc.reshape(s, (N, C, *s.shape[2:]))


def _divisors(n, m, kernel, pads, strides, dilations, include_pad: bool) -> np.ndarray:
    """Each window's element count (``m``-shaped): its positions inside the padded input
    (``include_pad``) or inside the input."""
    counts = []
    for ni, mi, k, (lo, hi), s, d in zip(n, m, kernel, pads, strides, dilations):
        start = np.arange(mi)[:, None] * s + np.arange(k)[None, :] * d   # padded coordinates
        inside = (start < ni + lo + hi) if include_pad else (start >= lo) & (start < ni + lo)
        counts.append(inside.sum(axis=1))
    out = counts[0]
    for c in counts[1:]:
        out = np.multiply.outer(out, c)
    return out


@converter("AveragePool")
def _avg_pool(ctx, node):
    x = ctx.tensor(node, 0)
    kernel, pads, strides, dilations, ceil_mode = _pool_geometry(ctx, node, x)
    include = bool(node.attr("count_include_pad", 0))
    padding = _torch_padding(kernel, pads)
    if padding is not None and all(d == 1 for d in dilations):
        return [gc.avg_pool(x, kernel, strides, padding, ceil_mode, include)]
    n = _spatial(ctx, node, x)
    framed, m = _framed(ctx, node, x, kernel, pads, strides, dilations, ceil_mode, 0)
    sums = _window_sums(framed, kernel, strides, dilations)
    div = _divisors(n, m, kernel, pads, strides, dilations, include)
    return [sums / _const(x, div)]


@converter("LpPool")
def _lp_pool(ctx, node):
    x = ctx.tensor(node, 0)
    kernel, pads, strides, dilations, ceil_mode = _pool_geometry(ctx, node, x)
    p = float(node.attr("p", 2))
    framed, _ = _framed(ctx, node, x, kernel, pads, strides, dilations, ceil_mode, 0)
    sums = _window_sums(gc.abs(framed) ** p, kernel, strides, dilations)
    return [sums ** (1 / p)]


def _spatial_axes(x) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@converter("GlobalAveragePool")
def _global_avg_pool(ctx, node):
    x = ctx.tensor(node, 0)
    return [gc.mean(x, axis=_spatial_axes(x), keepdims=True)]


@converter("GlobalMaxPool")
def _global_max_pool(ctx, node):
    x = ctx.tensor(node, 0)
    return [gc.max(x, axis=_spatial_axes(x), keepdims=True)]


@converter("GlobalLpPool")
def _global_lp_pool(ctx, node):
    x = ctx.tensor(node, 0)
    p = float(node.attr("p", 2))
    return [gc.sum(gc.abs(x) ** p, axis=_spatial_axes(x), keepdims=True) ** (1 / p)]


# ========================================================================= normalisation


def _normalize(x, axes, eps: float):
    """(x - mean) / sqrt(var + eps) over ``axes``, with the mean and 1/sqrt(var + eps)."""
    mean = gc.mean(x, axis=axes, keepdims=True)
    d = x - mean
    inv = 1 / gc.sqrt(gc.mean(d * d, axis=axes, keepdims=True) + eps)
    return d * inv, mean, inv


@converter("BatchNormalization")
def _batch_norm(ctx, node):
    x = ctx.tensor(node, 0)
    scale, bias = ctx.tensor(node, 1), ctx.tensor(node, 2)
    mean, var = ctx.tensor(node, 3), ctx.tensor(node, 4)
    eps = _float(node, "epsilon", 1e-5)

    def chan(v):   # (C,) on axis 1
        return _bcast_channel(v, x.ndim) if x.ndim > 1 else v

    if not node.attr("training_mode", 0):   # inference: the running statistics
        y = (x - chan(mean)) * (chan(scale) / gc.sqrt(chan(var) + eps)) + chan(bias)
        return [y] + [None] * (len(node.outputs) - 1)
    # training: the batch's statistics, and the running ones updated with momentum
    momentum = _float(node, "momentum", 0.9)
    axes = (0, *range(2, x.ndim))
    normed, batch_mean, _ = _normalize(x, axes, eps)
    y = normed * chan(scale) + chan(bias)
    batch_var = gc.mean(gc.square(x - batch_mean), axis=axes)
    batch_mean = gc.reshape(batch_mean, (-1,))
    running_mean = mean * momentum + batch_mean * (1 - momentum)
    running_var = var * momentum + batch_var * (1 - momentum)
    return [y, running_mean, running_var][:len(node.outputs)]


@converter("InstanceNormalization")
def _instance_norm(ctx, node):
    x, scale, bias = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    normed, _, _ = _normalize(x, _spatial_axes(x), _float(node, "epsilon", 1e-5))
    return [normed * _bcast_channel(scale, x.ndim) + _bcast_channel(bias, x.ndim)]


def _stash(x, node):
    """x in the dtype the statistics are computed in (``stash_type`` 1: at least float32)."""
    if int(node.attr("stash_type", 1)) == 1 and np.dtype(x.dtype).itemsize < 4:
        return gc.astype(x, np.float32)
    return x


@converter("LayerNormalization")
def _layer_norm(ctx, node):
    x0, scale, bias = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    axis = int(node.attr("axis", -1))
    if not -x0.ndim <= axis < x0.ndim:
        raise ctx.error(node, f"axis {axis} is out of range for {x0.shape}")
    axis %= x0.ndim
    x = _stash(x0, node)
    normed, mean, inv = _normalize(x, tuple(range(axis, x.ndim)), _float(node, "epsilon", 1e-5))
    y = gc.astype(normed, x0.dtype) * scale
    if bias is not None:
        y = y + bias
    return [y, mean, inv][:len(node.outputs)]


@converter("GroupNormalization")
def _group_norm(ctx, node):
    x0, scale, bias = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    groups = int(node.attr("num_groups"))
    N, C = x0.shape[:2]
    x = _stash(x0, node)
    grouped = gc.reshape(x, (N, groups, -1))
    normed, _, _ = _normalize(grouped, (2,), _float(node, "epsilon", 1e-5))
    normed = gc.astype(gc.reshape(normed, tuple(x0.shape)), x0.dtype)
    if ctx.opset < 21:   # opset 18: one scale and bias per group
        if not isinstance(C, (int, np.integer)):
            raise ctx.error(node, f"per-group scale needs a static channel count, got {C}")
        scale = gc.repeat(scale, int(C) // groups)
        bias = gc.repeat(bias, int(C) // groups)
    return [normed * _bcast_channel(scale, x0.ndim) + _bcast_channel(bias, x0.ndim)]


@converter("RMSNormalization")
def _rms_norm(ctx, node):
    x0, scale = ctx.tensor(node, 0), ctx.tensor(node, 1)
    axis = int(node.attr("axis", -1))
    if not -x0.ndim <= axis < x0.ndim:
        raise ctx.error(node, f"axis {axis} is out of range for {x0.shape}")
    axes = tuple(range(axis % x0.ndim, x0.ndim))
    x = _stash(x0, node)
    rms = gc.sqrt(gc.mean(x * x, axis=axes, keepdims=True) + _float(node, "epsilon", 1e-5))
    return [gc.astype(x / rms, x0.dtype) * scale]


@converter("MeanVarianceNormalization")
def _mvn(ctx, node):
    x = ctx.tensor(node, 0)
    axes = tuple(int(a) % x.ndim for a in node.attr("axes", (0, 2, 3)))
    mean = gc.mean(x, axis=axes, keepdims=True)
    d = x - mean
    return [d / (gc.sqrt(gc.mean(d * d, axis=axes, keepdims=True)) + 1e-9)]


@converter("LRN")
def _lrn(ctx, node):
    x = ctx.tensor(node, 0)
    size = int(node.attr("size"))
    alpha, beta = _float(node, "alpha", 1e-4), _float(node, "beta", 0.75)
    bias = _float(node, "bias", 1.0)
    C = x.shape[1]
    if not isinstance(C, (int, np.integer)):
        raise ctx.error(node, f"LRN needs a static channel count, got {x.shape}")
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = gc.pad(x * x, ((0, 0), (before, after)) + ((0, 0),) * (x.ndim - 2))
    total = sq[:, 0:int(C)]
    for k in range(1, size):
        total = total + sq[:, k:k + int(C)]
    return [x / (total * (alpha / size) + bias) ** beta]


# =============================================================================== dropout


@converter("Dropout")
def _dropout(ctx, node):
    """Identity unless ``training_mode``; then inverted dropout drawn from ``gc.random``
    (``ratio`` and ``training_mode`` may be computed at run time)."""
    x = ctx.tensor(node, 0)
    want_mask = len(node.outputs) > 1 and node.outputs[1] != ""
    has = [_has(node, i) for i in (0, 1, 2)]
    if not has[2] or (ctx.is_static(node, 2) and not np.asarray(ctx.static(node, 2)).all()):
        mask = gc.ones_like(x, dtype=bool) if want_mask else None
        return [x, mask][:len(node.outputs)]
    if np.dtype(x.dtype).kind != "f":
        raise ctx.error(node, f"training-mode dropout needs a float input, got {x.dtype}",
                        TypeError)
    training = ctx.tensor(node, 2)
    ratio = ctx.tensor(node, 1) if has[1] else _const(x, 0.5)
    if has[1] and ctx.is_static(node, 1):
        r = np.asarray(ctx.static(node, 1), dtype=np.float64).reshape(-1)
        if r.size != 1 or not 0 <= r[0] <= 1:
            raise ctx.error(node, f"ratio {r} must be in [0, 1]")
    ratio = gc.astype(ratio, x.dtype)
    draw = uniform(x, x.shape, dtype=x.dtype)
    keep = gc.logical_or(draw >= ratio, gc.logical_not(training))
    scale = gc.where(training, 1 / gc.maximum(1 - ratio, np.finfo(x.dtype).tiny), 1)
    y = gc.where(keep, x * gc.astype(scale, x.dtype), 0)
    return [gc.astype(y, x.dtype), keep][:len(node.outputs)]


# ========================================================================== recurrent


def _rnn_activation(name: str, alpha: float | None, beta: float | None):
    """An ONNX recurrent activation by name (with its alpha, beta) as a function."""
    table = {
        "relu": (lambda x, a, b: gc.maximum(x, 0), None, None),
        "tanh": (lambda x, a, b: gc.tanh(x), None, None),
        "sigmoid": (lambda x, a, b: gc.sigmoid(x), None, None),
        "affine": (lambda x, a, b: x * a + b, 1.0, 0.0),
        "leakyrelu": (lambda x, a, b: gc.where(x >= 0, x, x * a), 0.01, None),
        "thresholdedrelu": (lambda x, a, b: gc.where(x > a, x, 0), 1.0, None),
        "scaledtanh": (lambda x, a, b: gc.tanh(x * b) * a, 1.0, 1.0),
        "hardsigmoid": (lambda x, a, b: _hard_sigmoid(x, a, b), 0.2, 0.5),
        "elu": (lambda x, a, b: _elu(x, a), 1.0, None),
        "softsign": (lambda x, a, b: x / (gc.abs(x) + 1), None, None),
        "softplus": (lambda x, a, b: gc.softplus(x), None, None),
    }
    key = name.lower()
    if key not in table:
        raise ValueError(f"unknown activation {name!r}")
    fn, da, db = table[key]
    a = da if alpha is None else alpha
    b = db if beta is None else beta
    return lambda x: fn(x, a, b), (da is not None), (db is not None)


def _activations(ctx, node, defaults: list[str], directions: int):
    """Per direction, the activation functions (``activations``, else ``defaults``); each
    one that takes an alpha (a beta) consumes the next of ``activation_alpha``
    (``activation_beta``), as onnxruntime reads them."""
    names = node.attr("activations")
    names = [n.decode() if isinstance(n, bytes) else n for n in names] if names else \
        defaults * directions
    if len(names) != len(defaults) * directions:
        raise ctx.error(node, f"activations {names} need {len(defaults) * directions} names")
    alphas = list(node.attr("activation_alpha") or [])
    betas = list(node.attr("activation_beta") or [])
    out = []
    for name in names:
        try:
            _, uses_a, uses_b = _rnn_activation(name, None, None)
        except ValueError as e:
            raise ctx.error(node, str(e)) from None
        a = alphas.pop(0) if uses_a and alphas else None
        b = betas.pop(0) if uses_b and betas else None
        out.append(_rnn_activation(name, a, b)[0])
    return [out[i * len(defaults):(i + 1) * len(defaults)] for i in range(directions)]


def _recurrent(ctx, node, gates: int, defaults: list[str], step, nstates: int = 1,
               recurrent_bias: bool = True):
    """The shared frame of RNN, GRU and LSTM: layout, directions, initial states, the input
    projection of every step at once (with the input bias, and the recurrent bias where
    ``recurrent_bias``), variable sequence lengths as masks; ``step(d, xw_t, states, r, b,
    hidden, activations, clip) -> states`` per time step, whose first state is the hidden
    one."""
    x = ctx.tensor(node, 0)
    w, r, b = ctx.tensor(node, 1), ctx.tensor(node, 2), ctx.tensor(node, 3)
    layout = int(node.attr("layout", 0))
    if layout:
        x = gc.swapaxes(x, 0, 1)
    T = x.shape[0]
    if not isinstance(T, (int, np.integer)):
        raise ctx.error(node, f"the sequence length of {x.shape} must be static (the layer "
                              f"is unrolled)")
    T = int(T)
    direction = _text(node, "direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.error(node, f"direction {direction!r} is not forward, reverse or "
                              f"bidirectional")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = int(node.attr("hidden_size", w.shape[1] // gates))
    lens = None   # per batch entry: steps past its length keep the state and output zeros
    if _has(node, 4):
        if not ctx.is_static(node, 4) or not np.all(np.asarray(ctx.static(node, 4)) == T):
            lens = gc.reshape(ctx.tensor(node, 4), (-1, 1))
    clip = node.attr("clip")
    acts = _activations(ctx, node, defaults, dirs)
    inits = []
    for i in (5, 6)[:nstates]:   # initial_h, initial_c
        h0 = ctx.tensor(node, i) if _has(node, i) else None
        if h0 is not None and layout:
            h0 = gc.swapaxes(h0, 0, 1)
        inits.append(h0)
    ys, finals = [], []
    for d in range(dirs):
        xw = gc.matmul(x, gc.transpose(w[d]))           # (T, N, gates*hidden)
        if b is not None:
            xw = xw + b[d, :gates * hidden]
            if recurrent_bias:
                xw = xw + b[d, gates * hidden:]
        zeros = gc.zeros_like(xw[0, :, :hidden])
        states = [zeros if h0 is None else h0[d] for h0 in inits]
        backward = direction == "reverse" or d == 1
        out = [None] * T
        for t in (range(T - 1, -1, -1) if backward else range(T)):
            new = step(d, xw[t], states, r[d], b, hidden, acts[d], clip)
            if lens is None:
                states, out[t] = new, new[0]
            else:
                live = lens > t
                states = [gc.where(live, a, old) for a, old in zip(new, states)]
                out[t] = gc.where(live, new[0], 0)
        ys.append(gc.stack(out))                         # (T, N, hidden)
        finals.append(states)
    y = gc.stack(ys, axis=1)                             # (T, dirs, N, hidden)
    y_h = gc.stack([f[0] for f in finals])               # (dirs, N, hidden)
    results = [y, y_h]
    if len(finals[0]) > 1:
        results.append(gc.stack([f[1] for f in finals]))
    if layout:
        results = [gc.transpose(results[0], (2, 0, 1, 3))] + \
            [gc.swapaxes(s, 0, 1) for s in results[1:]]
    return results[:len(node.outputs)]


def _clipped(v, clip):
    return v if clip is None else gc.clip(v, -float(clip), float(clip))


def _gate(v, k: int, hidden: int):
    return v[..., k * hidden:(k + 1) * hidden]


@converter("RNN")
def _rnn(ctx, node):
    def step(d, xw, states, r, b, hidden, acts, clip):
        (h,) = states
        return [acts[0](_clipped(xw + gc.matmul(h, gc.transpose(r)), clip))]
    return _recurrent(ctx, node, 1, ["Tanh"], step)


@converter("GRU")
def _gru(ctx, node):
    linear_before_reset = bool(node.attr("linear_before_reset", 0))

    def step(d, xw, states, r, b, hidden, acts, clip):
        h = states[0]
        f, g = acts
        rt = gc.transpose(r)                             # (hidden, 3*hidden): z r h
        hr = gc.matmul(h, rt[:, :2 * hidden])
        if b is not None:
            hr = hr + b[d, 3 * hidden:5 * hidden]
        z = f(_clipped(_gate(xw, 0, hidden) + _gate(hr, 0, hidden), clip))
        rr = f(_clipped(_gate(xw, 1, hidden) + _gate(hr, 1, hidden), clip))
        rb = None if b is None else b[d, 5 * hidden:]
        if linear_before_reset:
            hh = gc.matmul(h, rt[:, 2 * hidden:])
            if rb is not None:
                hh = hh + rb
            cand = _gate(xw, 2, hidden) + rr * hh
        else:
            cand = _gate(xw, 2, hidden) + gc.matmul(rr * h, rt[:, 2 * hidden:])
            if rb is not None:
                cand = cand + rb
        hn = g(_clipped(cand, clip))
        return [(1 - z) * hn + z * h]

    return _recurrent(ctx, node, 3, ["Sigmoid", "Tanh"], step, recurrent_bias=False)


@converter("LSTM")
def _lstm(ctx, node):
    peep = ctx.tensor(node, 7) if _has(node, 7) else None
    couple = bool(node.attr("input_forget", 0))

    def step(d, xw, states, r, b, hidden, acts, clip):
        h, c = states
        f, g, hf = acts
        v = xw + gc.matmul(h, gc.transpose(r))          # gates i o f c
        pi = po = pf = None
        if peep is not None:
            pi, po, pf = (peep[d, k * hidden:(k + 1) * hidden] for k in range(3))
        pre_i, pre_o = _gate(v, 0, hidden), _gate(v, 1, hidden)
        pre_f, pre_c = _gate(v, 2, hidden), _gate(v, 3, hidden)
        if pi is not None:
            pre_i = pre_i + pi * c
            pre_f = pre_f + pf * c
        i = f(_clipped(pre_i, clip))
        ft = 1 - i if couple else f(_clipped(pre_f, clip))
        cn = ft * c + i * g(_clipped(pre_c, clip))
        if po is not None:
            pre_o = pre_o + po * cn
        o = f(_clipped(pre_o, clip))
        return [o * hf(cn), cn]

    return _recurrent(ctx, node, 4, ["Sigmoid", "Tanh", "Tanh"], step, nstates=2)


# ================================================================================ resize


def _source_position(x: np.ndarray, n_in: int, n_out: int, scale: float, mode: str,
                     roi: tuple[float, float]) -> np.ndarray:
    """The input coordinate each output index ``x`` samples (ONNX's
    ``coordinate_transformation_mode``)."""
    width = scale * n_in                      # the output size before rounding down
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if width != 1 else np.full(x.shape, -0.5)
    if mode == "align_corners":
        return x * (n_in - 1) / (width - 1) if width != 1 else np.zeros(x.shape)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        if width == 1:
            return np.full(x.shape, (hi - lo) * (n_in - 1) / 2 + lo * (n_in - 1))
        return x * (hi - lo) * (n_in - 1) / (width - 1) + lo * (n_in - 1)
    raise ValueError(f"coordinate_transformation_mode {mode!r} is not supported")


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel with coefficient ``a`` at distances ``t``."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _taps(ratio: float, scale: float, how: dict) -> np.ndarray:
    """The weights of the taps left .. right of a sample at ``ratio`` in (0, 1] past its
    left neighbour (an even count, centred on the sample)."""
    mode = how["mode"]
    if mode == "nearest":
        if ratio == 1:
            return np.array([0.0, 1.0])
        pick_right = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                      "floor": False, "ceil": True}[how["nearest_mode"]]
        return np.array([0.0, 1.0] if pick_right else [1.0, 0.0])
    if not how["antialias"] or scale >= 1:
        if mode == "linear":
            return np.array([1 - ratio, ratio])
        return _cubic(np.array([ratio + 1, ratio, 1 - ratio, 2 - ratio]), how["a"])
    # antialias when downsampling: the kernel stretched by 1/scale, normalised
    reach = 1 if mode == "linear" else 2
    start = int(np.floor(-reach / scale) + 1)
    d = (np.arange(start, 2 - start) - ratio) * scale
    w = np.clip(1 - np.abs(d), 0, 1) if mode == "linear" else _cubic(d, how["a"])
    return w / w.sum()


def _resize_matrix(n_in: int, n_out: int, scale: float, roi, how: dict):
    """Resizing along one axis as a matrix ``(n_out, n_in)``, and which outputs fall outside
    the input (tf_crop_and_resize: they take ``extrapolation_value``)."""
    pos = _source_position(np.arange(n_out, dtype=np.float64), n_in, n_out, scale,
                           how["coords"], roi)
    outside = (pos < 0) | (pos > n_in - 1) if how["coords"] == "tf_crop_and_resize" else \
        np.zeros(n_out, bool)
    w = np.zeros((n_out, n_in))
    for o, p in enumerate(pos):
        if outside[o]:
            continue
        left = math.ceil(p) - 1
        taps = _taps(p - left, scale, how)
        idx = left - (len(taps) // 2 - 1) + np.arange(len(taps))
        if how["exclude_outside"]:
            taps = np.where((idx < 0) | (idx >= n_in), 0.0, taps)
            total = taps.sum()
            taps = taps / (total if total != 0 else 1.0)
        np.add.at(w[o], np.clip(idx, 0, n_in - 1), taps)
    return w, outside


def _resize_plan(ctx, node, x):
    """Per resized axis: (axis, input size, output size, scale, roi)."""
    r = x.ndim
    axes = node.attr("axes")
    axes = list(range(r)) if axes is None else [int(a) % r for a in axes]
    k = len(axes)
    roi = ctx.static(node, 1) if _has(node, 1) else None
    roi = None if roi is None or np.asarray(roi).size == 0 else \
        np.asarray(roi, np.float64).reshape(-1)
    scales = ctx.static(node, 2) if _has(node, 2) else None
    scales = None if scales is None or np.asarray(scales).size == 0 else \
        np.asarray(scales, np.float64).reshape(-1)
    sizes = ctx.static(node, 3) if _has(node, 3) else None
    if (scales is None) == (sizes is None):
        raise ctx.error(node, "exactly one of scales and sizes must be given")
    n = [x.shape[a] for a in axes]
    if sizes is not None:
        # torch's exports compute sizes from Shape: the kept axes' entries are their Dims
        sizes = [v if isinstance(v, Dim) else int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(sizes) != k:
            raise ctx.error(node, f"sizes {sizes} need {k} entries")
        n = _static_sizes(ctx, node, x, axes, [s != v for s, v in zip(sizes, n)])
        scale_list = [s / v if s != v else 1.0 for s, v in zip(sizes, n)]
        policy = _text(node, "keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            if policy not in ("not_larger", "not_smaller"):
                raise ctx.error(node, f"keep_aspect_ratio_policy {policy!r} is not stretch, "
                                      f"not_larger or not_smaller")
            one = min(scale_list) if policy == "not_larger" else max(scale_list)
            scale_list = [one] * k
            sizes = [int(one * v + 0.5) for v in n]
    else:
        if len(scales) != k:
            raise ctx.error(node, f"scales {scales.tolist()} need {k} entries")
        scale_list = [float(s) for s in scales]
        n = _static_sizes(ctx, node, x, axes, [s != 1 for s in scale_list])
        sizes = [int(s * v) if s != 1 else v for s, v in zip(scale_list, n)]
    if roi is not None and len(roi) == 2 * r and k != r:
        roi = np.concatenate([roi[axes], roi[[r + a for a in axes]]])
    plan = []
    for j, a in enumerate(axes):
        span = (0.0, 1.0) if roi is None else (float(roi[j]), float(roi[k + j]))
        same = sizes[j] is n[j] or (isinstance(n[j], int) and sizes[j] == n[j])
        if scale_list[j] == 1 and same and span == (0.0, 1.0):
            continue
        plan.append((a, n[j], sizes[j], scale_list[j], span))
    return plan


def _static_sizes(ctx, node, x, axes, resized: list[bool]) -> list:
    """The sizes of ``axes`` (ints where ``resized``: those must not be symbols)."""
    out = []
    for a, w in zip(axes, resized):
        d = x.shape[a]
        if w and not isinstance(d, (int, np.integer)):
            raise ctx.error(node, f"axis {a} of {x.shape} is resized, so its size must be "
                                  f"static")
        out.append(int(d) if isinstance(d, (int, np.integer)) else d)
    return out


@converter("Resize")
def _resize(ctx, node):
    x = ctx.tensor(node, 0)
    how = {"mode": _text(node, "mode", "nearest"),
           "coords": _text(node, "coordinate_transformation_mode", "half_pixel"),
           "nearest_mode": _text(node, "nearest_mode", "round_prefer_floor"),
           "a": _float(node, "cubic_coeff_a", -0.75),
           "exclude_outside": bool(node.attr("exclude_outside", 0)),
           "antialias": bool(node.attr("antialias", 0))}
    if how["mode"] not in ("nearest", "linear", "cubic"):
        raise ctx.error(node, f"mode {how['mode']!r} is not nearest, linear or cubic")
    if how["nearest_mode"] not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        raise ctx.error(node, f"nearest_mode {how['nearest_mode']!r} is not supported")
    if how["mode"] != "nearest" and np.dtype(x.dtype).kind != "f":
        raise ctx.error(node, f"{how['mode']} resizing needs a float input, got {x.dtype}",
                        TypeError)
    y, outside = x, None
    for axis, n_in, n_out, scale, roi in _resize_plan(ctx, node, x):
        try:
            w, out = _resize_matrix(n_in, n_out, scale, roi, how)
        except ValueError as e:
            raise ctx.error(node, str(e)) from None
        if how["mode"] == "nearest":    # one-hot rows: a gather, exact for any dtype
            y = gc.take(y, np.argmax(w, axis=1), axis=axis)
        else:
            moved = gc.moveaxis(y, axis, -1)
            y = gc.moveaxis(gc.matmul(moved, _const(x, w.T)), -1, axis)
        if out.any():
            shape = [1] * x.ndim
            shape[axis] = n_out
            mask = out.reshape(shape)
            outside = mask if outside is None else outside | mask
    if outside is not None:
        fill = _float(node, "extrapolation_value", 0.0)
        y = gc.where(x.graph.constant(outside), _const(x, fill), y)
    return [y]


# ============================================================================= attention


def _heads(ctx, node, t, heads, what: str):
    """A 3-D ``(B, seq, heads*size)`` operand as ``(B, heads, seq, size)``; 4-D as is."""
    if t.ndim == 4:
        return t
    if t.ndim != 3 or heads is None:
        raise ctx.error(node, f"{what} {t.shape} must be 4-D, or 3-D with q_num_heads and "
                              f"kv_num_heads given")
    hidden = t.shape[2]
    if not isinstance(hidden, (int, np.integer)) or int(hidden) % int(heads):
        raise ctx.error(node, f"{what}'s hidden size {hidden} is not a multiple of "
                              f"{heads} heads")
    split = gc.reshape(t, (t.shape[0], t.shape[1], int(heads), int(hidden) // int(heads)))
    return gc.transpose(split, (0, 2, 1, 3))


def _allowed(ctx, node, q_len, kv_len, offset, causal: bool, left: int, right: int):
    """Where query ``i`` may attend key ``j`` under the causal rule and the sliding window,
    both aligned at ``offset`` (an int, or a per-batch ``(B, 1, 1, 1)`` tensor): None when
    every pair may. Query ``i`` sits at position ``i + offset``."""
    if not causal and left < 0 and right < 0:
        return None
    if not all(isinstance(n, (int, np.integer)) for n in (q_len, kv_len)):
        raise ctx.error(node, f"a causal or windowed attention needs static sequence "
                              f"lengths, got {q_len} queries and {kv_len} keys")
    i = np.arange(int(q_len)).reshape(-1, 1)
    j = np.arange(int(kv_len)).reshape(1, -1)
    if isinstance(offset, int):
        diff = i + offset - j
        ok = np.ones(diff.shape, bool)
        if causal:
            ok &= diff >= 0
        if left >= 0:
            ok &= diff <= left
        if right >= 0:
            ok &= -diff <= right
        return ok
    diff = offset + (i - j)
    conds = ([diff >= 0] if causal else []) + ([diff <= left] if left >= 0 else []) + \
        ([diff >= -right] if right >= 0 else [])
    ok = conds[0]
    for c in conds[1:]:
        ok = gc.logical_and(ok, c)
    return ok


@converter("Attention")
def _attention(ctx, node):
    q0, k, v = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    mask = ctx.tensor(node, 3) if _has(node, 3) else None
    past_k = ctx.tensor(node, 4) if _has(node, 4) else None
    past_v = ctx.tensor(node, 5) if _has(node, 5) else None
    nonpad = ctx.tensor(node, 6) if _has(node, 6) else None
    if (past_k is None) != (past_v is None):
        raise ctx.error(node, "past_key and past_value must be given together")
    if nonpad is not None and past_k is not None:
        raise ctx.error(node, "nonpad_kv_seqlen cannot be combined with past_key/past_value")
    if not q0.ndim == k.ndim == v.ndim:
        raise ctx.error(node, f"Q {q0.shape}, K {k.shape} and V {v.shape} must have one rank")
    q = _heads(ctx, node, q0, node.attr("q_num_heads"), "Q")
    k = _heads(ctx, node, k, node.attr("kv_num_heads"), "K")
    v = _heads(ctx, node, v, node.attr("kv_num_heads"), "V")
    scale = node.attr("scale")
    if scale is None:
        scale = 1 / math.sqrt(int(q.shape[3]))
    root = math.sqrt(float(scale))
    if past_k is not None:
        k = gc.concatenate([past_k, k], axis=2)
        v = gc.concatenate([past_v, v], axis=2)
    present_k, present_v = k, v
    q_len, kv_len = q.shape[2], k.shape[2]
    dt = q.dtype
    bias = None   # the mask as a float to add (0 or -inf where bool)
    if mask is not None:
        short = kv_len - mask.shape[-1]
        if not isinstance(short, (int, np.integer)):
            raise ctx.error(node, f"the mask {mask.shape} needs a static length against "
                                  f"{kv_len} keys")
        if mask.dtype == bool:
            bias = gc.where(mask, _const(q, 0), _const(q, -np.inf))
        else:
            bias = gc.astype(mask, dt)
        if short > 0:
            bias = gc.pad(bias, ((0, 0),) * (mask.ndim - 1) + ((0, int(short)),),
                          constant_values=-np.inf)
    if nonpad is not None:
        offset: Any = gc.reshape(gc.astype(nonpad, np.int64), (-1, 1, 1, 1)) - q_len
    else:
        offset = int(past_k.shape[2]) if past_k is not None else 0
    allowed = _allowed(ctx, node, q_len, kv_len, offset, bool(node.attr("is_causal", 0)),
                       int(node.attr("left_window_size", -1)),
                       int(node.attr("right_window_size", -1)))
    if nonpad is not None:
        if not isinstance(kv_len, (int, np.integer)):
            raise ctx.error(node, f"nonpad_kv_seqlen needs a static key length, got {kv_len}")
        keep = np.arange(int(kv_len)) < gc.reshape(gc.astype(nonpad, np.int64), (-1, 1, 1, 1))
        allowed = keep if allowed is None else gc.logical_and(allowed, keep)
    if allowed is not None:
        if not isinstance(allowed, np.ndarray) or not allowed.all():
            if isinstance(allowed, np.ndarray):
                allowed = q.graph.constant(allowed)
            wall = gc.where(allowed, _const(q, 0), _const(q, -np.inf))
            bias = wall if bias is None else bias + wall
    heads_q, heads_k = q.shape[1], k.shape[1]
    if heads_q != heads_k:
        if not all(isinstance(h, (int, np.integer)) for h in (heads_q, heads_k)) or \
                int(heads_q) % int(heads_k):
            raise ctx.error(node, f"{heads_q} query heads are not a multiple of {heads_k} "
                                  f"key/value heads")
        k = gc.repeat(k, int(heads_q) // int(heads_k), axis=1)
        v = gc.repeat(v, int(heads_q) // int(heads_k), axis=1)
    scores = gc.matmul(q * root, gc.swapaxes(k * root, -1, -2))
    cap = _float(node, "softcap", 0.0)
    if cap > 0:
        scores = gc.tanh(scores / cap) * cap
    with_bias = scores if bias is None else scores + bias
    mode = int(node.attr("qk_matmul_output_mode", 0))
    logits = with_bias
    precision = node.attr("softmax_precision")
    if precision is not None:
        import onnx.helper

        logits = gc.astype(logits, onnx.helper.tensor_dtype_to_np_dtype(int(precision)))
    if bias is None:
        probs = gc.softmax(logits, axis=-1)
    else:   # a row masked everywhere attends to nothing: zeros, not NaN
        dead = gc.max(bias, axis=-1, keepdims=True) == -np.inf
        probs = gc.where(dead, 0, gc.softmax(gc.where(dead, 0, logits), axis=-1))
    probs = gc.astype(probs, dt)
    y = gc.matmul(probs, v)
    if q0.ndim == 3:
        y = gc.transpose(y, (0, 2, 1, 3))
        y = gc.reshape(y, (y.shape[0], y.shape[1], y.shape[2] * y.shape[3]))
    qk_out = {0: scores, 1: scores, 2: with_bias, 3: probs}.get(mode)
    if qk_out is None:
        raise ctx.error(node, f"qk_matmul_output_mode {mode} is not 0, 1, 2 or 3")
    return [y, present_k, present_v, gc.astype(qk_out, dt)][:len(node.outputs)]


# ========================================================================== space/depth


def _static4(ctx, node, x):
    if x.ndim != 4:
        raise ctx.error(node, f"{node.op_type} takes (N, C, H, W), got {x.shape}")
    return x.shape


@converter("DepthToSpace")
def _depth_to_space(ctx, node):
    x = ctx.tensor(node, 0)
    N, C, H, W = _static4(ctx, node, x)
    bs = int(node.attr("blocksize"))
    mode = _text(node, "mode", "DCR")
    c = C // (bs * bs)
    if mode == "DCR":
        t = gc.reshape(x, (N, bs, bs, c, H, W))
        t = gc.transpose(t, (0, 3, 4, 1, 5, 2))
    elif mode == "CRD":
        t = gc.reshape(x, (N, c, bs, bs, H, W))
        t = gc.transpose(t, (0, 1, 4, 2, 5, 3))
    else:
        raise ctx.error(node, f"mode {mode!r} is not DCR or CRD")
    return [gc.reshape(t, (N, c, H * bs, W * bs))]


@converter("SpaceToDepth")
def _space_to_depth(ctx, node):
    x = ctx.tensor(node, 0)
    N, C, H, W = _static4(ctx, node, x)
    bs = int(node.attr("blocksize"))
    mode = _text(node, "mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise ctx.error(node, f"mode {mode!r} is not DCR or CRD")
    t = gc.reshape(x, (N, C, H // bs, bs, W // bs, bs))
    t = gc.transpose(t, (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4))
    return [gc.reshape(t, (N, C * bs * bs, H // bs, W // bs))]

