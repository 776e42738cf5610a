"""Next-token prediction at any sequence length: one compiled step for T = 5, 9 and 17.

    python examples/next_token.py [--quick]

Each sequence counts modulo V with its own start and stride (3, 7, 1, 5, ...), so a token
is fixed by the two before it. The model reads tokens one-hot, ``x`` of shape ``(B, T, V)``
with both B and T symbolic, and predicts token t + 1 from tokens t and t - 1:

    context = gc.concatenate([x[:, 1:-1], x[:, :-2]], axis=-1)   # (B, T - 2, 2*V)
    rows    = gc.reshape(context, (-1, 2 * V))                    # (B*T - 2*B, 2*V)
    logits  = mlp(rows)                                           # (B*T - 2*B, V)
    labels  = gc.reshape(tokens[:, 2:], (-1,))                    # (B*T - 2*B,)

The shapes are dim expressions, so ``gc.compile`` makes one training step that serves every
batch size and every length: batches of T = 5, 9 and 17 are mixed through the same Function,
which is compiled once (its buffers are made per (B, T) binding). A length too short for the
slices (T < 2) is refused at call time, naming the line that needs it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as gc

V = 10  # vocabulary
LENGTHS = (5, 9, 17)


def make_batch(batch: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Token sequences (B, T) int64 counting mod V by a random stride, and their one-hot
    encoding (B, T, V) float64."""
    start = rng.integers(0, V, (batch, 1))
    stride = rng.integers(1, V, (batch, 1))
    tokens = (start + stride * np.arange(length)) % V
    return tokens.astype(np.int64), np.eye(V)[tokens]


def build_model(hidden: int = 64, seed: int = 0):
    """The graph: one-hot x (B, T, V), tokens (B, T); loss and accuracy over every position
    that has two tokens before it."""
    g = gc.Graph("next_token")
    x = g.input("x", ("B", "T", V))
    tokens = g.input("tokens", ("B", "T"), dtype=np.int64)
    mlp = gc.nn.MLP([2 * V, hidden, V], activation="tanh", rng=seed)
    context = gc.concatenate([x[:, 1:-1], x[:, :-2]], axis=-1)  # tokens t and t - 1
    rows = gc.reshape(context, (-1, 2 * V))  # every position of every sequence: one batch
    logits = mlp(rows)
    labels = gc.reshape(tokens[:, 2:], (-1,))  # token t + 1
    loss = gc.nn.cross_entropy(logits, labels)
    acc = gc.nn.accuracy(logits, labels)
    return g, x, tokens, mlp, logits, loss, acc


def main(argv: list[str] | None = None) -> dict:
    """Train and report; returns the numbers it prints (the tests read them)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   default=os.environ.get("GRAPHC_QUICK", "") not in ("", "0"),
                   help="a small, fast run (also GRAPHC_QUICK=1)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true", help="(no plot is made; accepted)")
    p.add_argument("--no-progress", action="store_true", help="(accepted)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    steps = args.steps or (60 if args.quick else 600)

    g, x, tokens, mlp, logits, loss, acc = build_model(32 if args.quick else 64, args.seed)
    print(f"next_token: x {x.shape} -> logits {logits.shape} (one row per predicted token)")
    opt = gc.optim.Adam(lr=0.01)
    step = gc.compile([loss, acc], updates=opt.updates(loss))
    score = gc.compile([loss, acc])
    source = step.source

    losses: list[float] = []
    for k in range(steps):
        length = LENGTHS[k % len(LENGTHS)]
        toks, onehot = make_batch(32, length, rng)
        step_loss, _ = step(onehot, toks)
        losses.append(float(step_loss))
    assert step.source == source  # one compiled step served every length

    held_out = {}
    for length in (*LENGTHS, 33):  # 33: a length never seen in training
        toks, onehot = make_batch(256, length, rng)
        held_out[length] = tuple(float(v) for v in score(onehot, toks))
    print(f"next_token: {steps} steps over T in {LENGTHS} through one compiled step; "
          f"training loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f}")
    for length, (lv, av) in held_out.items():
        print(f"next_token: held-out T = {length:2d}: cross-entropy {lv:.4f}, "
              f"accuracy {av:.1%}")
    refusal = ""
    try:
        score(*reversed(make_batch(4, 1, rng)))
    except gc.ShapeError as e:
        refusal = str(e)
        print(f"next_token: T = 1 is refused: {refusal}")
    seconds = time.perf_counter() - t0
    print(f"next_token: total {seconds:.2f} s")
    return {"losses": losses, "held_out": held_out, "refusal": refusal, "seconds": seconds,
            "source": source}


if __name__ == "__main__":
    main()
