#!/usr/bin/env bash
# Runs on the device machine (16 cores), from the repository root, with .device/ carried
# (bench/device_pack.sh builds it): the image-model scaling sweep at 2/4/8/16 cores, and the tiny
# and batching runs with every baseline, all in one call. Tables go to stdout and to $OUT.
#
#   run(command="bash bench/device_run.sh", carry=[".device"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
site=/tmp/ovserve-site
mkdir -p "$site"
tar -C "$site" -xJf .device/openvino-cpu.tar.xz
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .device/wheels/*.whl || exit 1
export PYTHONPATH="$site:$PWD" PATH="$PWD/.device/bin:$PATH" LD_LIBRARY_PATH="$PWD/.device/lib:${LD_LIBRARY_PATH:-}"
export PYTHONUNBUFFERED=1
{
  echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  python3 -c "import openvino, sanic, zmq; print('openvino', openvino.__version__, 'sanic', sanic.__version__)"
  timeout 240 python3 bench/scaling.py --cores "${CORES:-2,4,8,16}" --duration 8 --concurrency 64
  timeout 150 python3 bench/load.py --models dyn --concurrency 64 --batching 64 --duration 8
  timeout 100 python3 bench/load.py --models dummy --concurrency 32 --duration 8
} 2>&1 | tee "$OUT/device_bench.txt"
tar -czf "$OUT/bench_logs.tgz" bench/out/*.log 2>/dev/null || true
