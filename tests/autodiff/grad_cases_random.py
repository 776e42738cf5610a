"""Gradient cases of the random ops (run inside tests/autodiff/test_grad_table.py).

A draw has no gradient (its one operand is the uint64 generator state), nor has the state's
advance. A mask drawn from it passes gradients through the product with it, as dropout does:
``gc.check_grad`` evaluates with the current state, which evaluation does not advance, so
every finite difference sees the same mask."""

# ruff: noqa: F821  (case, gc, np, NON_DIFFERENTIABLE come from the table's namespace)

NON_DIFFERENTIABLE.update({"random_uniform", "random_normal", "random_bernoulli",
                           "random_permutation", "random_advance"})

# dropout-like uses: a drawn mask or noise times (plus) the differentiated input
case("multiply", "dropout(B,4)", [("B", 4)], lambda a: gc.nn.dropout(a, 0.5))
case("multiply", "dropout-in-tanh(B,3,2)", [("B", 3, 2)],
     lambda a: gc.tanh(gc.nn.dropout(gc.tanh(a), 0.25) * a))
case("multiply", "uniform-noise(B,3)", [("B", 3)],
     lambda a: gc.square(a) * gc.random.uniform(a, a.shape, 0.5, 1.5))
case("add", "normal-noise(B,3)", [("B", 3)],
     lambda a: gc.tanh(a + gc.random.normal(a, a.shape, scale=0.1)))
case("take_along_axis", "shuffled-rows(B,3)", [("B", 3)],
     lambda a: gc.tanh(gc.take_along_axis(
         a, gc.random.permutation(a, a.shape[0])[:, None], axis=0) * a))
