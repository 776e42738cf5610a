"""Gradient-table cases for the conv family (run in ``test_grad_table``'s namespace).

conv, conv_transpose and conv_weight_grad are each other's gradients, so second order runs
through all three. Pooling draws its inputs from the lattice domain (distinct values a
finite-difference step cannot reorder), so the max of each window is unique.
"""

# ruff: noqa: F821  (case, np, NON_DIFFERENTIABLE come from test_grad_table's namespace)

import graphc as gc

# the indices are integers
NON_DIFFERENTIABLE.update({"max_pool_indices"})

# ------------------------------------------------------------------------------------ conv
case("conv", "1d", [("B", 2, 6), (3, 2, 3)], lambda x, w: gc.conv1d(x, w, padding=1))
case("conv", "2d,strided,dilated", [("B", 2, 6, 5), (3, 2, 2, 3)],
     lambda x, w: gc.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2)))
case("conv", "2d,groups,same", [(2, 4, 5, 4), (4, 2, 2, 3)],
     lambda x, w: gc.conv2d(x, w, padding="same", groups=2))
case("conv", "3d,bias", [("B", 2, 4, 3, 4), (2, 2, 2, 2, 2), (2,)],
     lambda x, w, b: gc.conv3d(x, w, b, stride=(1, 2, 1), padding=(0, 1, 1)))
case("conv", "conv-tanh-conv", [("B", 2, 7), (3, 2, 3), (2, 3, 2)],
     lambda x, w1, w2: gc.conv1d(gc.tanh(gc.conv1d(x, w1, stride=2, padding=1)), w2))
case("conv", "x-only", [("B", 2, 5)],
     lambda x: gc.conv1d(x, x.graph.constant(np.arange(3 * 2 * 2).reshape(3, 2, 2) / 7.0)))

# ------------------------------------------------------------------------- conv_transpose
case("conv_transpose", "1d,stride2", [("B", 2, 4), (2, 3, 3)],
     lambda x, w: gc.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1))
case("conv_transpose", "2d,groups,dilation,op>p", [(2, 4, 3, 3), (4, 1, 2, 2), (2,)],
     lambda x, w, b: gc.conv_transpose2d(x, w, b, stride=1, output_padding=1, groups=2,
                                         dilation=2))
case("conv_transpose", "3d", [("B", 2, 2, 3, 2), (2, 2, 2, 2, 3)],
     lambda x, w: gc.conv_transpose3d(x, w, stride=(2, 1, 2), padding=(0, 1, 1),
                                      output_padding=(1, 0, 1)))

# ----------------------------------------------------------------------- conv_weight_grad
_WG = {"kernel": (3,), "stride": (2,), "padding": ((1, 0),), "dilation": (1,), "groups": 1}
case("conv_weight_grad", "1d", [("B", 2, 7), ("B", 3, 3)],
     lambda x, g: x.graph.apply("conv_weight_grad", [x, g], _WG))
case("conv_weight_grad", "2d,groups", [(2, 4, 5, 4), (2, 2, 4, 2)],
     lambda x, g: x.graph.apply("conv_weight_grad", [x, g], {
         "kernel": (2, 3), "stride": (1, 1), "padding": ((0, 0), (0, 0)),
         "dilation": (1, 1), "groups": 2}))
case("conv_weight_grad", "via-grad", [("B", 2, 6), (3, 2, 2)],
     lambda x, w: gc.grad(gc.sum(gc.tanh(gc.conv1d(x, w, stride=2))), [w])[0])

# ---------------------------------------------------------------------------------- pools
case("max_pool", "1d,ceil", [("B", 2, 7)],
     lambda x: gc.max_pool1d(x, 3, 2, 1, ceil_mode=True), ["lattice"])
case("max_pool", "2d,overlapping,dilated", [("B", 2, 5, 6)],
     lambda x: gc.max_pool2d(x, (2, 3), (1, 2), (1, 1), dilation=(2, 1)), ["lattice"])
case("max_pool", "3d", [(1, 2, 4, 3, 4)], lambda x: gc.max_pool3d(x, 2, 1, 1), ["lattice"])
case("max_pool", "pool-of-square", [("B", 2, 6)],
     lambda x: gc.max_pool1d(x * x, 2) * gc.max_pool1d(x, 2), ["lattice"])

_MP = {"kernel": (3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (1, 1),
       "ceil_mode": True}
case("max_pool_grad", "2d", [("B", 2, 6, 4), ("B", 2, 4, 3)],
     lambda x, g: x.graph.apply("max_pool_grad", [x, g], _MP), ["lattice", "any"], wrt=(1,))
case("max_pool_grad", "1d,overlapping", [(2, 3, 6), (2, 3, 5)],
     lambda x, g: x.graph.apply("max_pool_grad", [x, g], {
         "kernel": (2,), "stride": (1,), "padding": (0,), "dilation": (1,),
         "ceil_mode": False}) * x, ["lattice", "any"], wrt=(0, 1))

case("avg_pool", "1d,ceil,exclude", [("B", 2, 8)],
     lambda x: gc.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False))
case("avg_pool", "2d", [("B", 2, 5, 6)], lambda x: gc.avg_pool2d(x, (2, 3), (1, 2), (1, 1)))
case("avg_pool", "3d,divisor", [(1, 2, 4, 3, 4)],
     lambda x: gc.avg_pool3d(x, 2, 2, 1, ceil_mode=True, divisor_override=5))
case("avg_pool", "squared", [("B", 2, 6)], lambda x: gc.avg_pool1d(x, 2) ** 2)

case("avg_pool_grad", "1d", [("B", 2, 4)],
     lambda g: g.graph.apply("avg_pool_grad", [g], {
         "kernel": (3,), "stride": (2,), "padding": (1,), "ceil_mode": True,
         "count_include_pad": False, "divisor": None, "size": (7,)}))
case("avg_pool_grad", "2d,times-g", [(2, 2, 3, 3)],
     lambda g: g.graph.apply("avg_pool_grad", [g], {
         "kernel": (2, 2), "stride": (2, 2), "padding": (1, 0), "ceil_mode": False,
         "count_include_pad": True, "divisor": None, "size": (4, 6)}) ** 2)
