"""Baseline (c): what a hand-written wrapper does. One Sanic process decodes with orjson +
numpy.asarray and calls OpenVINO in-process, then encodes with orjson."""

import sys

import numpy as np
import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

app = Sanic("naive")
app.config.MOTD = False
app.config.REQUEST_MAX_SIZE = 1 << 30
state: dict = {}


@app.before_server_start
async def load(app_: Sanic) -> None:
    import openvino as ov  # imported after Sanic picked its start method (limits.md, trap 1)

    compiled = ov.Core().compile_model(sys.argv[2], "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    state["request"] = compiled.create_infer_request()
    state["input"] = compiled.input(0)


@app.post("/v1/models/<target:path>")
async def predict(request: Request, target: str) -> HTTPResponse:
    doc = orjson.loads(request.body)
    x = np.asarray(doc["instances"], dtype=np.float32)
    out = state["request"].infer({0: x})[0]
    return raw(orjson.dumps({"predictions": out}, option=orjson.OPT_SERIALIZE_NUMPY), content_type="application/json")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False)
