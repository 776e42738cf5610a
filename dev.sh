#!/usr/bin/env bash
# graphc developer entry point: `bash dev.sh demo` | `bash dev.sh test` | `bash dev.sh docs`
# | `bash dev.sh images` | `bash dev.sh bench` | `bash dev.sh fuzz`. Creates .venv, installs
# graphc with its extras, and the system graphviz package (for `dot`) when it is missing and we
# are root. `test` builds the docs (mkdocs build --strict) before it runs pytest.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

ensure_dot() {
  command -v dot >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[dev.sh] installing the system package graphviz (for the dot binary)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz) \
      >/dev/null 2>&1 || echo "[dev.sh] apt-get install graphviz failed; diagrams will not render"
  else
    echo "[dev.sh] 'dot' not found: install the system package graphviz"
    echo "         (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz)"
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        rm -rf "$VENV"; "$PY" -m venv "$VENV"
      else
        echo "[dev.sh] python3 -m venv failed: install python3-venv"; exit 1
      fi
    fi
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/python" -m pip install -q -e ".[test,examples,docs,onnx,numba,dask]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import graphc, numpy, networkx, graphviz, pytest, hypothesis" \
    || { echo "[dev.sh] installing graphc failed"; exit 1; }
  "$VENV/bin/python" -c "import mkdocs, mkdocstrings, mkdocstrings_handlers.python" \
    || { echo "[dev.sh] installing the docs extra (mkdocs, mkdocstrings[python]) failed"; exit 1; }
}

timeboxed() {  # timeboxed SECONDS CMD...: coreutils timeout where there is one
  local seconds=$1; shift
  if command -v timeout >/dev/null 2>&1; then timeout "$seconds" "$@"; else "$@"; fi
}

build_docs() {  # build_docs DIR: the docs site, strict (any warning fails), into DIR
  # no -q: in mkdocs 1.6 it also hides the warnings that --strict counts, so nothing fails
  local log
  if ! log=$(timeboxed 120 "$VENV/bin/python" -m mkdocs build --strict -d "$1" 2>&1); then
    printf '%s\n' "$log" | grep -v "^INFO" || true
    echo "[dev.sh] the docs build failed: mkdocs build --strict (see above)"
    exit 1
  fi
  echo "[dev.sh] docs built (mkdocs build --strict) into $1"
}

sync_doc_images() {  # the docs site has its own copies of the pictures in images/
  local f
  for f in curve_fit.png curve_fit_grad.svg curve_fit_forward.svg column_layout.png spirals.png; do
    if [ -f "images/$f" ]; then cp "images/$f" docs/images/; fi
  done
}

ensure_torch() {
  # torch is a test-only second gradient oracle and a benchmark peer, never a dependency
  "$VENV/bin/python" -c "import torch" 2>/dev/null && return 0
  "$VENV/bin/python" -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" \
    || true
  "$VENV/bin/python" -c "import torch" 2>/dev/null \
    || echo "[dev.sh] torch==2.13.0 not installable here: the torch-oracle tests will skip"
}

cmd=${1:-test}
shift || true
case "$cmd" in
  demo)   ensure_dot; ensure_venv; "$VENV/bin/python" examples/curve_fit.py "$@" ;;
  test)   ensure_dot; ensure_venv; ensure_torch
          docs_tmp=$(mktemp -d); trap 'rm -rf "$docs_tmp"' EXIT
          build_docs "$docs_tmp/site"
          "$VENV/bin/python" -m pytest "$@" ;;
  docs)   ensure_venv; build_docs site ;;
  images) ensure_dot; ensure_venv; "$VENV/bin/python" -m graphc.viz.images "$@"; sync_doc_images ;;
  bench)  ensure_venv; ensure_torch
          "$VENV/bin/python" -m pip install -q -e ".[bench]" 2>&1 | grep -v "^WARNING: Location" \
            || echo "[dev.sh] the optional peers (autograd, jax, pytensor) did not all install"
          "$VENV/bin/python" benchmarks/run.py "$@" ;;
  fuzz)   ensure_venv; HYPOTHESIS_PROFILE=long "$VENV/bin/python" -m pytest tests -m fuzz "$@" ;;
  setup)  ensure_dot; ensure_venv; ensure_torch ;;
  *) echo "usage: bash dev.sh {demo|test|docs|images|bench|fuzz|setup} [args]"; exit 2 ;;
esac
