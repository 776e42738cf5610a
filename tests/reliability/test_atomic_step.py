"""A training step is all or nothing: interrupted anywhere, every param and optimiser state
holds the values of the same step."""

from __future__ import annotations

import signal
import sys

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")


class Interrupt(BaseException):
    """Raised by the timer, as KeyboardInterrupt would be (but pytest ignores this one)."""


ARMED = [False]


def _raise(signum, frame):
    if ARMED[0]:  # a signal still pending once the steps are over is dropped
        raise Interrupt


def _steps(n_params: int, opt):
    g = gc.Graph("a")
    x = g.input("x", ("B", 2))
    ps = [g.param(f"p{k}", np.zeros(2)) for k in range(n_params)]
    loss = gc.sum(x * ps[0])
    for p in ps[1:]:
        loss = loss + gc.sum(x * p)
    return g, gc.compile(loss, [x], updates=opt.updates(loss, ps))


@pytest.mark.parametrize("opt", [gc.optim.SGD(0.5), gc.optim.Adam(0.1)],
                         ids=["sgd", "adam"])
def test_an_interrupt_at_random_points_never_leaves_a_half_applied_step(opt):
    """A KeyboardInterrupt during a 300-param step left 242 of 300 updates applied."""
    g, f = _steps(300 if isinstance(opt, gc.optim.SGD) else 60, opt)
    X = np.ones((1, 2))
    rng = np.random.default_rng(0)
    old = signal.signal(signal.SIGALRM, _raise)
    interrupted = 0
    try:
        for _ in range(300):
            try:
                ARMED[0] = True
                signal.setitimer(signal.ITIMER_REAL, float(rng.uniform(1e-5, 4e-4)))
                for _ in range(20):
                    f(X)
            except Interrupt:
                interrupted += 1
            finally:
                ARMED[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            # every param (and each optimiser state) holds the values of one and the same step
            for prefix in ("p", "adam/m/p", "adam/v/p"):
                group = [v for k, v in g.params.items() if k.startswith(prefix)
                         and k.removeprefix(prefix).isdigit()]
                assert all(np.array_equal(group[0], v) for v in group), prefix
    finally:
        signal.signal(signal.SIGALRM, old)
    assert interrupted > 50  # the timer did hit the steps


@pytest.mark.parametrize("opt", [gc.optim.SGD(0.5), gc.optim.Adam(0.1)],
                         ids=["sgd", "adam"])
def test_an_interrupt_before_any_statement_of_the_step_leaves_a_whole_step(opt):
    """Deterministic: an exception raised (by a tracer) before each line of the generated
    function in turn, as an interrupt delivered between two statements would be."""
    g, f = _steps(40, opt)
    X = np.ones((1, 2))
    f(X)
    lines = range(1, f.source.count("\n") + 1)
    for target in lines:
        fired = [False]

        def local(frame, event, arg, target=target, fired=fired):
            if event == "line" and frame.f_lineno == target and not fired[0]:
                fired[0] = True
                raise Interrupt
            return local

        def tracer(frame, event, arg):
            return local if frame.f_code.co_filename == f._filename else None

        sys.settrace(tracer)
        try:
            f(X)
        except Interrupt:
            pass
        finally:
            sys.settrace(None)
        for prefix in ("p", "adam/m/p", "adam/v/p"):
            group = [v for k, v in g.params.items() if k.startswith(prefix)
                     and k.removeprefix(prefix).isdigit()]
            assert all(np.array_equal(group[0], v) for v in group), (prefix, target)


def test_a_numpy_error_in_the_commit_still_commits_every_param():
    """Under np.errstate(over='raise'), W1 was committed, then W2 overflowed and raised."""
    g = gc.Graph("a")
    x = g.input("x", ())
    W1 = g.param("W1", np.array([1.0]))
    W2 = g.param("W2", np.array([1e308]))
    W3 = g.param("W3", np.array([1.0]))
    f = gc.compile(x * 1.0, [x], updates={W1: W1 + x, W2: W2 + x * 1e308, W3: W3 + x})
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        f(np.float64(1.0))
    assert g.params["W1"][0] == 2.0 and np.isinf(g.params["W2"][0]) and g.params["W3"][0] == 2.0

