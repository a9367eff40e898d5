#!/usr/bin/env bash
# Builds .device/ (git-ignored): what the 16-core device machine lacks to run bench/device_run.sh.
#
# That machine has Python 3.12 with numpy, msgpack, psutil, uvloop, requests, aiofiles, multidict,
# but no openvino, sanic, pyzmq, orjson, pysimdjson or wrk, and reaches no package registry; at most
# 64 MiB may travel with the working tree. The openvino wheel alone is 59 MB, so its package is
# unpacked and cut to what ovserve uses there (CPU plugin, IR and ONNX frontends): about 21 MB as xz.
#
#   bench/device_pack.sh            # then: run(command="bash bench/device_run.sh", carry=[".device"])
set -euo pipefail
cd "$(dirname "$0")/.."
OV_VERSION=$(.venv/bin/python -c "import openvino, re; print(re.match(r'[0-9.]+', openvino.__version__).group(0).rstrip('.'))")
out=.device
rm -rf "$out" && mkdir -p "$out/wheels" "$out/bin" "$out/lib"
grep -qx '/.device/' .gitignore || echo '/.device/' >> .gitignore

PYVER=${PYVER:-3.12}  # the device's Python; another value builds a pack to rehearse with here

pip_download() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$1" "${@:2}"
}

pip_download "$out/wheels" sanic==25.12.1 sanic-routing==23.12.0 httptools html5tagger tracerite ujson \
  websockets pyzmq orjson pysimdjson openvino-telemetry
work=$(mktemp -d)
pip_download "$work" "openvino==${OV_VERSION}"
mkdir "$work/site"
(cd "$work/site" && unzip -q "$work"/openvino-*.whl)
libs="$work/site/openvino/libs"
rm -f "$libs"/libopenvino_intel_gpu_plugin.so "$libs"/libopenvino_intel_npu_plugin.so "$libs"/cache.json
for fe in gguf jax paddle pytorch tensorflow tensorflow_lite; do rm -f "$libs"/libopenvino_${fe}_frontend.so.*; done
rm -rf "$work/site/openvino/include"
tar -C "$work/site" -cJf "$out/openvino-cpu.tar.xz" .
rm -rf "$work"

wrk=$(command -v wrk || true)
if [ -z "$wrk" ]; then apt-get install -y -qq wrk >/dev/null; wrk=$(command -v wrk); fi
cp "$wrk" "$out/bin/wrk"
cp "$(ldd "$wrk" | awk '/libluajit/ {print $3}')" "$out/lib/"

du -sh "$out"
size=$(du -sb "$out" | cut -f1)
[ "$size" -lt $((56 * 1024 * 1024)) ] || { echo "too large to travel with the tree: $size bytes"; exit 1; }
