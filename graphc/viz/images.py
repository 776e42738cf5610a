"""Regenerate the diagrams in ``images/`` (``bash dev.sh images``, run from the repo root).

Builds the curve-fit model from ``images/curve_fit_model.py`` (a user file, so the diagrams'
``file:line`` provenance points at readable code), saves it with ``gc.save`` to
``images/curve_fit.json``, then draws it with the ``graphc`` CLI from that saved file:
``curve_fit_forward.{svg,png}`` and ``curve_fit_grad.{svg,png}`` (forward + backward, with
the unbroadcast nodes inserted by ``gc.grad`` marked, stacked so that it reads at the width of
a README page; the PNGs at 144 dpi, sharp when a browser scales them down).

With the ``onnx`` package installed it also exports the small transformer encoder of
``images/transformer_model.py`` with ``gc.onnx.save`` to ``images/transformer.onnx`` and
draws that ONNX file folded, one box for its four identical layers:
``transformer_onnx.{svg,png}``.
"""

from __future__ import annotations

import argparse
import runpy
import subprocess
import sys
from pathlib import Path

MODEL_SOURCE = "images/curve_fit_model.py"
ONNX_SOURCE = "images/transformer_model.py"


def cli(*args: str) -> None:
    """Run ``graphc ARGS`` as a subprocess (the same path a user takes)."""
    cmd = [sys.executable, "-m", "graphc.cli", *args]
    print("$ graphc " + " ".join(args))
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    """Save the example model and draw it through the CLI."""
    from graphc.io import save

    p = argparse.ArgumentParser(prog="python -m graphc.viz.images", description=__doc__)
    p.add_argument("--out", default="images", help="folder for the model file and diagrams")
    args = p.parse_args(argv)
    if not Path(MODEL_SOURCE).is_file():
        print(f"run this from the graphc repo root ({MODEL_SOURCE} not found)", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # a relative path, so node locations read "images/curve_fit_model.py:NN" on any machine
    g = runpy.run_path(MODEL_SOURCE)["build"]()
    model = out / "curve_fit.json"
    save(g, model)
    print(f"saved {model}")
    for suffix in ("svg", "png"):
        dpi = ["--dpi", "144"] if suffix == "png" else []
        cli("render", str(model), *dpi, "-o", str(out / f"curve_fit_forward.{suffix}"))
        cli("render", str(model), "--grad", "--stack", "--legend", *dpi,
            "-o", str(out / f"curve_fit_grad.{suffix}"))
    cli("info", str(model))
    onnx_images(out)
    return 0


def onnx_images(out: Path) -> None:
    """Export the transformer of ``ONNX_SOURCE`` to ONNX and draw the file folded (skipped,
    with a note, when the onnx package is missing)."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        print("onnx is not installed: transformer_onnx.* not redrawn", file=sys.stderr)
        return
    from graphc.onnx import save as save_onnx

    model = out / "transformer.onnx"
    save_onnx(runpy.run_path(ONNX_SOURCE)["build"](), model)
    print(f"saved {model}")
    for suffix in ("svg", "png"):
        dpi = ["--dpi", "144"] if suffix == "png" else []
        cli("render", str(model), "--fold", *dpi, "-o", str(out / f"transformer_onnx.{suffix}"))
    cli("info", str(model))


if __name__ == "__main__":
    sys.exit(main())
