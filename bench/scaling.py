"""Scaling: ovserve's throughput on the image model as the server gets more cores.

For each core count N the whole server runs inside the first N CPUs of the allowance (its
CPU plan follows the affinity mask: N/2 workers, N/2 fronts); wrk runs on the CPUs left over
(on all of them when none are). Prints cores, plan, throughput, p50/p99 and the ratio to the
smallest run of the same sweep.

    python bench/scaling.py --cores 1,2                 # this 2-CPU machine
    python bench/scaling.py --cores 2,4,8,16 --duration 10 --concurrency 64
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import OUT, READY_PATH, Proc, body_for, cpu_model, ensure_wrk, make_models, ovserve_argv, run_wrk
from tests.server_util import free_port


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", default="1,2")
    p.add_argument("--model", default="cnn")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=8.0)
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    ensure_wrk()
    allowed = sorted(os.sched_getaffinity(0))
    model_dir, shape = make_models()[a.model]
    body = body_for(a.model, shape)
    print(f"# scaling on {len(allowed)} CPUs ({cpu_model()}), model {a.model} {shape}, c={a.concurrency}")
    rows = []
    for n in [int(c) for c in a.cores.split(",")]:
        if n > len(allowed):
            print(f"  skip {n} cores: only {len(allowed)} allowed")
            continue
        server_cpus, rest = allowed[:n], allowed[n:]
        port = free_port()
        argv = ovserve_argv(a.model, model_dir, port)
        proc = Proc(argv, port, READY_PATH, os.path.join(OUT, f"scaling-{n}.log"), cpus=server_cpus)
        try:
            url = f"http://127.0.0.1:{port}/v1/models/{a.model}:predict"
            rate, p50, p99, errors = run_wrk(url, body, a.concurrency, a.duration, cpus=rest or None)
        finally:
            proc.stop()
        plan = f"{max(2, n // 2)} fronts, {max(1, n // 2)} workers"
        rows.append((n, plan, rate, p50, p99, errors))
        print(
            f"  {n} cores ({plan}): {rate:.1f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}", flush=True
        )
    if rows:
        base = rows[0][2]
        print("\n| cores | plan | req/s | p50 ms | p99 ms | errors | x first |")
        print("|---|---|---|---|---|---|---|")
        for n, plan, rate, p50, p99, errors in rows:
            print(f"| {n} | {plan} | {rate:.1f} | {p50:.1f} | {p99:.1f} | {errors} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
