#!/usr/bin/env bash
# amt_jax — the two commands a researcher needs:
#   ./run.sh demo    the main job (builds data, loads Basic Pitch, sweeps, figures) -> outputs/demo/
#   ./run.sh test    the test suite (pytest-xdist, one worker per CPU up to 4: AMT_JAX_TEST_WORKERS=N to change, 0 = serial);
#                    ./run.sh test -m "not slow" is the fast tier for the edit loop (tests/conftest.py: SLOW_FILES)
# Both run `setup` first: an idempotent .venv with the pinned requirements and amt_jax itself (pip install -e .).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV="${AMT_JAX_VENV:-.venv}"
PY="$VENV/bin/python"
# Installed with --no-deps: basic-pitch would pull TensorFlow (we only read its nmp.onnx and
# reference decoding code); pesto-pitch would pull torch and torchaudio (we only read its mir-1k_g7.ckpt,
# without torch); tinysoundfont's pyaudio dependency does not build.
NODEPS=("basic-pitch==0.4.0" "tinysoundfont==0.3.7" "pesto-pitch==2.0.1")

die() { echo "run.sh: $*" >&2; exit 1; }

setup() {
  command -v python3 >/dev/null || die "python3 not found (need Python >= 3.11)"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 is $(python3 -V 2>&1); amt_jax needs Python >= 3.11"
  if [ ! -x "$PY" ]; then
    echo "run.sh: creating $VENV" >&2
    python3 -m venv "$VENV"
  fi
  local want have
  want="$( (cat requirements.txt; printf '%s\n' "${NODEPS[@]}") | sha256sum | cut -d' ' -f1)"
  have="$(cat "$VENV/.amt_jax_requirements" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    echo "run.sh: installing pinned requirements into $VENV" >&2
    "$PY" -m pip install --disable-pip-version-check -q --upgrade pip
    "$PY" -m pip install --disable-pip-version-check -q -r requirements.txt
    "$PY" -m pip install --disable-pip-version-check -q --no-deps "${NODEPS[@]}"
    # librosa's numba kernels compile on first import or call (~20 s on 2 cores) into numba's cache in the
    # venv; compile them here, once, as pip compiles the .pyc files, not in the first command or test that imports them
    "$PY" -W ignore -c "import numpy, librosa, librosa.core.pitch, librosa.util; librosa.icqt(librosa.cqt(numpy.zeros(4096), sr=22050), sr=22050)" \
      || echo "run.sh: could not precompile librosa's numba kernels; they compile on first use" >&2
    echo "$want" > "$VENV/.amt_jax_requirements"
  fi
  # the package itself, editable (no copy: edits here take effect), so `import amt_jax` and the README's
  # Python examples work from any directory; redone when the venv last installed another checkout
  if [ "$(cat "$VENV/.amt_jax_editable" 2>/dev/null || true)" != "$PWD" ]; then
    echo "run.sh: installing amt_jax (editable) from $PWD into $VENV" >&2
    "$PY" -m pip install --disable-pip-version-check -q --no-deps -e .
    echo "$PWD" > "$VENV/.amt_jax_editable"
  fi
}

# pytest-xdist workers: the CPUs this process may use (GNU nproc honours CPU affinity; OMP_* must not
# cap it), else the online CPUs (macOS: sysctl), at most 4 (each worker holds its own JAX and
# compilation caches; about 2-3 GB at peak)
test_workers() {
  local n
  n="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null \
       || sysctl -n hw.ncpu 2>/dev/null || echo 1)"
  echo $(( n > 4 ? 4 : n ))
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo)  setup; exec "$PY" -m amt_jax demo "$@" ;;
  test)  setup; exec "$PY" -m pytest -q -p no:cacheprovider --durations=12 -n "${AMT_JAX_TEST_WORKERS:-$(test_workers)}" --dist loadfile tests "$@" ;;
  bench) setup; exec "$PY" -m amt_jax.bench "$@" ;;
  *) echo "usage: ./run.sh {setup|demo|test|bench} [args...]" >&2; exit 2 ;;
esac
