"""The wire protocol between supervisor, fronts and workers: one place for every message.

Two planes, both ZeroMQ with msgpack frames:

* data plane (front DEALER -> worker ROUTER): small INFER descriptors whose tensors live in the
  front's shared-memory arena, answered by RESULT descriptors pointing at outputs that the worker
  wrote into the same arena (or, when they did not fit the reservation, carried inline). One
  message carries every descriptor a front dispatched to that worker in one event-loop turn (one
  frame each), and the worker answers each message with one message: under load the ZeroMQ
  wake-ups are shared by many requests;
* control plane (everyone DEALER -> supervisor ROUTER): dict messages keyed by ``"t"``.
"""

from __future__ import annotations

import os
from typing import Any

import msgpack

# ---- data plane -----------------------------------------------------------------------------
INFER = 1
RESULT = 2

# INFER:  [INFER, req_id, model, version, instance, sent, deadline, arena, block, inputs, out_offset, out_size]
#         sent/deadline: wall-clock seconds (queue time is measured from ``sent``); the first byte of
#         the arena ``block`` is LIVE, or CANCELLED once the front gave up (client gone, deadline
#         passed): a worker skips such a request instead of computing it for nobody
LIVE = 0
CANCELLED = 1
#         inputs: [[name, offset, dtype, shape], ...]
# RESULT: [RESULT, req_id, True, outputs] | [RESULT, req_id, False, [status_name, details]]
#         outputs: [[name, offset, dtype, shape], ...]; offset INLINE: a 5th item holds the bytes
INLINE = -1

# ---- control plane --------------------------------------------------------------------------
HELLO = "hello"  # worker/front -> supervisor
LOADED = "loaded"  # worker -> supervisor: result of a LOAD
UNLOADED = "unloaded"  # worker -> supervisor
LOAD = "load"  # supervisor -> worker
UNLOAD = "unload"  # supervisor -> worker
FORGET_ARENA = "forget_arena"  # supervisor -> worker: a front is gone, unmap its arena
TABLE = "table"  # supervisor -> front: the routing table
RELOAD = "reload"  # front -> supervisor: POST /v1/config/reload
RELOAD_RESULT = "reload_result"  # supervisor -> front


def pack(message: Any) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(data: bytes | memoryview) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def supervisor_endpoint(run_dir: str) -> str:
    return "ipc://" + os.path.join(run_dir, "control.sock")


def worker_endpoint(run_dir: str, index: int) -> str:
    return "ipc://" + os.path.join(run_dir, f"worker-{index}.sock")
