"""A character-level causal transformer on the Zen of Python, trained with variable-length
batches through one compiled step, then sampled with one compiled forward for every length.

    python examples/char_transformer.py [--quick]

The text ships with Python (``this.s``, the Zen of Python, rot13-decoded). The model: token
and learned position embeddings, ``--layers`` blocks of pre-norm causal self-attention
(``gc.nn.MultiHeadAttention(causal=True)``, whose mask is ``gc.tril`` of the symbolic (T, T))
and an MLP, then logits over the characters. The sequence length T is symbolic: batches of
T = 16, 32 and 64 go through the same compiled step (buffers per (B, T) binding), and
sampling feeds contexts of every length 1..64 to one compiled forward.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import dataclasses
import io
import os
import time

import numpy as np

import graphc as gc

MAX_LEN = 64
LENGTHS = (16, 32, 64)


def zen() -> str:
    """The Zen of Python: ``this.s``, rot13 (importing ``this`` prints it: silenced)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


@dataclasses.dataclass(eq=False, repr=False)
class Block(gc.nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    dim: int
    heads: int

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ln1, self.ln2 = gc.nn.LayerNorm(self.dim), gc.nn.LayerNorm(self.dim)
        self.attn = gc.nn.MultiHeadAttention(self.dim, self.heads, causal=True, rng=self.rng)
        self.mlp = gc.nn.MLP([self.dim, 4 * self.dim, self.dim], activation="relu",
                             rng=self.rng)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def build_model(vocab: int, dim: int = 48, heads: int = 4, layers: int = 2, seed: int = 0):
    """The graph: token ids (B, T) int64 -> logits (B, T, vocab); the next-token loss."""
    rng = np.random.default_rng(seed)
    g = gc.Graph("char_transformer")
    ids = g.input("ids", ("B", "T"), dtype=np.int64)
    targets = g.input("targets", ("B", "T"), dtype=np.int64)
    tok = g.param("tok_emb", rng.standard_normal((vocab, dim)) * 0.1)
    pos = g.param("pos_emb", rng.standard_normal((MAX_LEN, dim)) * 0.02)
    T = ids.shape[1]
    x = gc.take(tok, ids, axis=0) + pos[:T]  # pos[:T] needs T <= MAX_LEN, checked per call
    for i in range(layers):
        block = Block(dim, heads, name=f"block{i}", rng=seed + i)
        x = block(x)
    x = gc.nn.LayerNorm(dim, name="ln_f")(x)
    logits = gc.nn.Linear(dim, vocab, name="head", rng=seed)(x)
    loss = gc.nn.cross_entropy(gc.reshape(logits, (-1, vocab)), gc.reshape(targets, (-1,)))
    return g, ids, targets, logits, loss


def batches(data: np.ndarray, batch: int, length: int, rng: np.random.Generator):
    starts = rng.integers(0, len(data) - length - 1, batch)
    x = np.stack([data[s:s + length] for s in starts])
    y = np.stack([data[s + 1:s + length + 1] for s in starts])
    return x, y


def sample(forward, prompt: np.ndarray, n: int, rng: np.random.Generator,
           temperature: float = 0.7) -> list[int]:
    """Extend ``prompt`` by ``n`` characters, one compiled forward for every context length."""
    out = list(prompt)
    for _ in range(n):
        ctx = np.array(out[-MAX_LEN:])[None]
        logits = forward(ctx)[0, -1] / temperature
        p = np.exp(logits - logits.max())
        out.append(int(rng.choice(len(p), p=p / p.sum())))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   default=os.environ.get("GRAPHC_QUICK", "") not in ("", "0"))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plot", action="store_true", help="(no plot is made; accepted)")
    p.add_argument("--no-progress", action="store_true", help="(accepted)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    text = zen()
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    rng = np.random.default_rng(args.seed)
    steps = args.steps or (30 if args.quick else 800)
    dim, layers = (16, 1) if args.quick else (32, 2)

    g, ids, targets, logits, loss = build_model(len(chars), dim=dim, layers=layers,
                                                seed=args.seed)
    opt = gc.optim.AdamW(lr=3e-3, weight_decay=0.01)
    step = gc.compile(loss, updates=opt.updates(loss))
    source = step.source
    losses = []
    for k in range(steps):
        x, y = batches(data, 16, LENGTHS[k % len(LENGTHS)], rng)
        losses.append(float(step(x, y)))
    assert step.source == source  # one compiled step for every length
    print(f"char_transformer: {len(text)} characters, {len(chars)} symbols; {steps} steps "
          f"over T in {LENGTHS}; loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-20:]):.3f}")
    forward = gc.compile(logits, inputs=[ids])
    prompt = np.array([chars.index(c) for c in "Beautiful is "])
    got = sample(forward, prompt, 60 if args.quick else 200, rng)
    text_out = "".join(chars[i] for i in got)
    print("char_transformer: sample:\n" + text_out)
    seconds = time.perf_counter() - t0
    print(f"char_transformer: total {seconds:.1f} s")
    return {"losses": losses, "sample": text_out, "seconds": seconds}


if __name__ == "__main__":
    main()
