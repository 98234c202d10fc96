#!/usr/bin/env bash
# The GPU checks in one call on a machine with CUDA GPUs and no network (docs/performance.md):
# the gpu-marked tests, then bench/gpu.py. Prepare on the development machine first:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl pydantic==2.13.4 pydantic_core==2.46.4 \
#       annotated-types typing-inspection
#
# then run `bash bench/device_check.sh` there, carrying `.whl` (the GPU machines' Python 3.12
# has PyTorch, pytest, click, rich, PyYAML, numpy and Pillow, but not pydantic). Output goes to
# $OUT (or ./device-out) as gpu-tests.txt and gpu-bench.txt.
set -u
out="${OUT:-device-out}"
mkdir -p "$out"
if ! python3 -c "import pydantic" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/netdef-site .whl/*.whl
    export PYTHONPATH="/tmp/netdef-site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export NETDEF_CACHE=/tmp/netdef-cache
nvidia-smi -L | tee "$out/gpus.txt"
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tail -25 \
    | tee "$out/gpu-tests.txt"
timeout 300 python3 bench/gpu.py --batch 128 --iters 20 --loader-batches 30 --workers 8 2>&1 \
    | tee "$out/gpu-bench.txt"
