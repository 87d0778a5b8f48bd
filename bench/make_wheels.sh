#!/usr/bin/env bash
# The wheels bench/gpu_check.sh installs on a GPU machine that cannot download anything: run this where pip
# reaches an index, then copy DIR next to the repository (default bench/wheels; never committed).
#   bench/make_wheels.sh [DIR] [PYTHON_VERSION e.g. 3.11, the GPU machine's]
set -euo pipefail
DIR=${1:-$(cd "$(dirname "$0")" && pwd)/wheels}
PY=${PYTHON:-python3}
PYVER=${2:-$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
mkdir -p "$DIR"
# antlr4 4.9.3 (omegaconf's grammar runtime) is published as a source archive only: build its pure wheel
$PY -m pip wheel -q --no-deps -w "$DIR" antlr4-python3-runtime==4.9.3
# the versions the suite is tested with (omegaconf 2.4 is not what hydra-core 1.3 was tested on)
$PY -m pip download -q --no-deps --only-binary=:all: -d "$DIR" hydra-core==1.3.8 omegaconf==2.3.1 \
    hydra-joblib-launcher==1.2.0 joblib \
    tqdm packaging pytest pluggy iniconfig python-dateutil pytz tzdata six
# compiled wheels for the GPU machine's Python
$PY -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$DIR" PyYAML pandas
ls "$DIR"
