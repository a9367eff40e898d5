"""Which pipelines one worker runs whole (``frontend.pipeline.fuse``) and how a worker runs such
a chain (``workers.chain``): the steps and returns sent, the cases that must run node by node,
and the copies that keep a step's outputs when a later step reuses the same infer request."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ovserve.frontend.pipeline.fuse import fuse
from ovserve.frontend.table import VersionEntry
from ovserve.shared.messages import REQUEST, Chain, ChainStep
from ovserve.shared.pipeline_plan import PipelinePlan, PlanNode
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.shared.states import ErrorCode, State
from ovserve.workers.chain import StepGone, run_chain

STATIC = Signature((TensorSpec("b", "f32", ((1, 1), (10, 10))),), (TensorSpec("a", "f32", ((1, 1), (10, 10))),))
DYNAMIC = Signature((TensorSpec("b", "f32", ((0, -1), (10, 10))),), (TensorSpec("a", "f32", ((0, -1), (10, 10))),))
PIPELINE = Signature(STATIC.inputs, (TensorSpec("out", "f32", ((1, 1), (10, 10))),))
PLAN = PipelinePlan(
    (
        PlanNode("first", "m", 0, (("b", "request", "in"),), (("x", "a"),)),
        PlanNode("second", "n", 2, (("b", "first", "x"),), (("y", "a"),)),
    ),
    (("out", "second", "y"), ("mid", "first", "x"), ("echo", "request", "in")),
    chain=True,
)


def entry(signature: Signature, workers: list[int], version: int = 1) -> VersionEntry:
    return VersionEntry(version, State.AVAILABLE, ErrorCode.OK, signature, workers, 7)


def test_a_static_chain_goes_whole_to_a_common_worker() -> None:
    fused = fuse(PLAN, [entry(STATIC, [0, 1, 2]), entry(STATIC, [2, 1], 2)], PIPELINE)
    assert fused is not None and fused.workers == [1, 2] and fused.outputs == PIPELINE
    assert fused.chain.steps == [
        ChainStep("m", 1, 7, [("b", REQUEST, "in")]),
        ChainStep("n", 2, 7, [("b", 0, "a")]),  # the alias resolved to the model's output
    ]
    assert fused.chain.returns == [("out", 1, "a"), ("mid", 0, "a"), ("echo", REQUEST, "in")]
    assert Chain.decode(fused.chain.encode()) == fused.chain  # as msgpack gives it back: lists


def test_node_by_node_when_an_edge_is_dynamic_or_no_worker_hosts_all() -> None:
    assert fuse(PLAN, [entry(DYNAMIC, [0]), entry(STATIC, [0])], PIPELINE) is None  # checked per request
    assert fuse(PLAN, [entry(STATIC, [0]), entry(STATIC, [1])], PIPELINE) is None
    other = Signature((TensorSpec("b", "i32", ((1, 1), (10, 10))),), STATIC.outputs)
    assert fuse(PLAN, [entry(STATIC, [0]), entry(other, [0])], PIPELINE) is None


class Loaded:
    """Stands for a loaded model: one output buffer, overwritten by every inference (as an
    OpenVINO infer request's output tensor is)."""

    def __init__(self, add: float) -> None:
        self.add, self.output_names, self.buffer = add, ["a"], np.zeros((1, 10), np.float32)


def test_a_worker_runs_the_chain_keeping_each_steps_outputs() -> None:
    same = Loaded(1.0)  # both steps on one model: the second inference overwrites the buffer

    def step(s: ChainStep, loaded: Any, inputs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
        np.add(inputs[0][1], loaded.add, out=loaded.buffer)
        return [loaded.buffer]

    chain = Chain(
        [ChainStep("m", 1, 7, [("b", REQUEST, "in")]), ChainStep("m", 1, 7, [("b", 0, "a")])],
        [("out", 1, "a"), ("mid", 0, "a"), ("echo", REQUEST, "in")],
    )
    x = np.full((1, 10), 0.5, np.float32)
    out = dict(run_chain(chain, same, [("in", x)], lambda key: same, step))
    assert out["out"].tolist() == [[2.5] * 10] and out["mid"].tolist() == [[1.5] * 10] and out["echo"] is x
    with pytest.raises(StepGone, match="m version 1"):
        run_chain(chain, same, [("in", x)], lambda key: None, step)
