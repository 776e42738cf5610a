"""``gc.random``: random draws of symbolic shapes whose generator state lives in the graph
(a non-trainable param ``rng/state``, advanced by each call of a compiled function and
committed with its updates). See ``graphc.ops.random``."""

from graphc.ops.random import bernoulli, normal, permutation, seed, state, uniform

__all__ = ["bernoulli", "normal", "permutation", "seed", "state", "uniform"]
