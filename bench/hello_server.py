"""Baseline (b): Sanic hello-world with N processes: the HTTP ceiling on this machine."""

import sys

from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

app = Sanic("hello")
app.config.MOTD = False


@app.route("/<path:path>", methods=["GET", "POST"])
async def hello(request: Request, path: str) -> HTTPResponse:
    return raw(b'{"predictions": [[1.0]]}', content_type="application/json")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]), access_log=False)
