"""Baseline (c): what a hand-written wrapper does, as fast as one process can: Sanic decodes with
orjson + numpy, calls OpenVINO in-process, encodes with orjson (``OPT_SERIALIZE_NUMPY``) into a
plain ``HTTPResponse``.

Variants (third argument), measured side by side by ``bench/load.py --naive_variants``; the
default is the fastest (2 CPUs, tiny model, wrk c=32: 9,463 req/s and 105.7 us of CPU per
request against 8,128 and 123.0 for ``request``):
  compiled  OpenVINO's default compile, ``compiled_model(x)``
  request   LATENCY hint, one infer request reused, ``request.infer({0: x})``
"""

import sys

import numpy as np
import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse

VARIANT = sys.argv[3] if len(sys.argv) > 3 else "compiled"
app = Sanic("naive")
app.config.MOTD = False
app.config.REQUEST_MAX_SIZE = 1 << 30
state: dict = {}
JSON = "application/json"


@app.before_server_start
async def load(app_: Sanic) -> None:
    import openvino as ov  # imported after Sanic picked its start method (openvino's telemetry forks)

    if VARIANT == "request":
        compiled = ov.Core().compile_model(sys.argv[2], "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        state["run"] = lambda x: request.infer({0: x})[0]
    else:
        compiled = ov.Core().compile_model(sys.argv[2], "CPU")
        state["run"] = lambda x: compiled(x)[0]


@app.post("/v1/models/<target:path>")
async def predict(request: Request, target: str) -> HTTPResponse:
    x = np.asarray(orjson.loads(request.body)["instances"], dtype=np.float32)
    out = state["run"](x)
    return HTTPResponse(orjson.dumps({"predictions": out}, option=orjson.OPT_SERIALIZE_NUMPY), content_type=JSON)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False)
