"""Baseline (a), the ceiling: OpenVINO's own in-process inference rate for a model (sync
infer loop, inputs pre-filled), in a process of its own. Prints one JSON line."""

import json
import sys
import time

import numpy as np
import openvino as ov


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    config = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"PERFORMANCE_HINT": "LATENCY"}
    compiled = ov.Core().compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    for i, port in enumerate(compiled.inputs):
        shape = [d.get_length() if d.is_static else 1 for d in port.get_partial_shape()]
        data = np.random.default_rng(0).standard_normal(shape).astype(port.get_element_type().to_dtype())
        request.set_input_tensor(i, ov.Tensor(data))
    for _ in range(10):
        request.infer()
    latencies = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        request.infer()
        latencies.append(time.perf_counter() - now)
    lat = np.array(latencies)
    print(
        json.dumps(
            {
                "rate": len(lat) / lat.sum(),
                "p50_ms": float(np.percentile(lat, 50) * 1e3),
                "p99_ms": float(np.percentile(lat, 99) * 1e3),
            }
        )
    )


if __name__ == "__main__":
    main()
