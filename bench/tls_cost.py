"""The cost of TLS per request: the same ovserve served plain and over TLS (REST, certificates the
script makes with trustme), measured in alternation in one run with wrk: the tiny model's TFS REST
JSON with keep-alive and with a new connection per request (a TLS handshake each), and the CNN's
KServe binary body with keep-alive. Every point shows req/s, p50/p99, the server's CPU per request
by process role and the ratio to plain.

    python bench/tls_cost.py                   # 2 rounds of 5 s points
    python bench/tls_cost.py --rounds 3 --seconds 8

wrk cannot present a client certificate, so mutual TLS is not measured here (its extra cost is
the client certificate's verification at each handshake).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import (
    OUT,
    READY_PATH,
    Proc,
    Result,
    body_for,
    cpu_model,
    ensure_wrk,
    kserve_bodies,
    make_models,
    measure,
    ovserve_argv,
    run_wrk,
)
from bench.load import TENSOR_NAMES
from tests.server_util import free_port, wait_ok

Run = Callable[[int, float], tuple[float, float, float, int]]


def certificates() -> tuple[str, str]:
    import trustme

    folder = os.path.join(OUT, "tls")
    os.makedirs(folder, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = os.path.join(folder, "server.pem"), os.path.join(folder, "server.key")
    with open(cert, "wb") as f:
        f.write(b"".join(p.bytes() for p in server.cert_chain_pems))
    with open(key, "wb") as f:
        f.write(server.private_key_pem.bytes())
    return cert, key


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()
    ensure_wrk()
    os.makedirs(OUT, exist_ok=True)
    models = make_models()
    cert, key = certificates()
    tiny_body = body_for("dummy", models["dummy"][1])
    input_name, output_name = TENSOR_NAMES["cnn"]
    _, (cnn_binary, cnn_header) = kserve_bodies("cnn", input_name, output_name, models["cnn"][1])
    servers: dict[str, dict[str, Proc]] = {}
    for model in ("dummy", "cnn"):
        servers[model] = {}
        for variant in ("plain", "tls"):
            port = free_port()
            argv = ovserve_argv(model, models[model][0], port)
            if variant == "tls":
                argv += ["--rest_certificate_path", cert, "--rest_key_path", key]
            log = os.path.join(OUT, f"tls_cost_{model}_{variant}.log")
            servers[model][variant] = Proc(argv, port, READY_PATH if variant == "plain" else "", log)
            if variant == "tls":  # Proc asks over plain HTTP; ask over TLS until the model is loaded
                wait_ok(f"https://127.0.0.1:{port}{READY_PATH}", 120, verify=False)
    points: list[tuple[str, str, str, Callable[[str], Run]]] = [
        (
            "tiny JSON, keep-alive",
            "dummy",
            "/v1/models/dummy:predict",
            lambda url: lambda c, s: run_wrk(url, tiny_body, c, s),
        ),
        (
            "tiny JSON, new connection each",
            "dummy",
            "/v1/models/dummy:predict",
            lambda url: lambda c, s: run_wrk(url, tiny_body, c, s, new_connections=True),
        ),
        (
            "CNN binary, keep-alive",
            "cnn",
            "/v2/models/cnn/infer",
            lambda url: lambda c, s: run_wrk(url, cnn_binary, max(1, c // 2), s, header_length=cnn_header),
        ),
    ]
    results: dict[tuple[str, str], list[Result]] = {}
    try:
        for _ in range(args.rounds):
            for name, model, path, run in points:
                for variant in ("plain", "tls"):
                    proc = servers[model][variant]
                    scheme = "https" if variant == "tls" else "http"
                    url = f"{scheme}://127.0.0.1:{proc.port}{path}"
                    got = measure(proc, f"{variant} {name}", run(url), [args.concurrency], args.seconds)
                    results.setdefault((name, variant), []).extend(got)
    finally:
        for by_variant in servers.values():
            for proc in by_variant.values():
                proc.stop()
    rounds = f"{args.rounds} round(s) of {args.seconds:.0f} s"
    print(f"\n{cpu_model()}, {rounds}, c={args.concurrency} (CNN c/2); best round")
    print("| point | server | req/s | p50 ms | p99 ms | errors | server CPU us/req by role | x plain (req/s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _, _, _ in points:
        plain = max(results[(name, "plain")], key=lambda r: r.rate)
        for variant in ("plain", "tls"):
            r = max(results[(name, variant)], key=lambda x: x.rate)
            cpu = ", ".join(f"{role} {us:.0f}" for role, us in r.cpu_us.items())
            ratio = f"{r.rate / plain.rate:.2f}" if plain.rate else "-"
            cells = f"{r.rate:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors}"
            print(f"| {name} | {variant} | {cells} | {cpu} | {ratio} |")


if __name__ == "__main__":
    main()
