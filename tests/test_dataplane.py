"""The front's data plane and request lifecycle without a server: a real dispatcher and arena,
the stand-in worker of ``test_dispatch`` on a real Unix socket, routing tables as the supervisor
sends them. The inference sequence (wait, decode, validate, run), the lifecycle's count, answers
and metrics version, and the pipeline runner's order, demultiplexing and failures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from ovserve.frontend.dataplane import DataPlane, DecodedTensors
from ovserve.frontend.dispatch import Dispatcher
from ovserve.frontend.lifecycle import Call, Lifecycle
from ovserve.frontend.metrics import FrontMetrics
from ovserve.frontend.pipeline.run import run_pipeline
from ovserve.frontend.table import RoutingTable
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.pipeline_plan import PipelinePlan, PlanNode
from ovserve.shared.routing_rows import RoutingTableWire, VersionRow
from ovserve.shared.signature import Signature
from ovserve.shared.states import ErrorCode, State

from tests.test_dispatch import SIGNATURE, StandIn, _run


def table(generation: int, state: State, versions: tuple[int, ...] = (1,)) -> RoutingTable:
    rows = [VersionRow(v, state, ErrorCode.OK, SIGNATURE.to_wire(), (0,), v, -1) for v in versions]
    return RoutingTable.from_wire(RoutingTableWire(generation, {"m": rows}, workers={0: 1}, ready=True))


def dataplane(dispatcher: Dispatcher) -> DataPlane:
    async def reload() -> tuple[int, str | None]:
        return 200, None

    return DataPlane(dispatcher, reload, FrontMetrics(0, 0, ()))


def decode(x: float) -> Any:
    return lambda signature: DecodedTensors({signature.inputs[0].name: np.full((1, 4), x, np.float32)})


class Answers:
    async def refused(self, error: OvmsError) -> str:
        return f"refused {error.status.http}"

    async def failed(self) -> str:
        return "failed"


def test_inference_sequence_waits_for_a_loading_version() -> None:
    async def body(dispatcher: Dispatcher, stand_in: StandIn, _: str) -> None:
        server = asyncio.create_task(stand_in.serve())
        dp = dataplane(dispatcher)
        dp.set_table(table(1, State.LOADING))
        dispatcher.set_workers({0: 1})

        async def load_finishes() -> None:
            await asyncio.sleep(0.3)
            dp.set_table(table(2, State.AVAILABLE, (1, 2)))

        asyncio.get_running_loop().create_task(load_finishes())
        call = Call(series=-1, name="m", version=0)
        _, outcome = await dp.infer_call(call, decode(3.0))
        assert call.answered == 2 and outcome.version == 2  # the default once it loaded: the highest
        assert np.array_equal(dict(outcome.outputs)["y"], np.full((1, 4), 6.0, np.float32))
        server.cancel()

    _run(body)


def test_unknown_names_and_bad_inputs_answer_ovms_errors() -> None:
    async def body(dispatcher: Dispatcher, _stand_in: StandIn, _: str) -> None:
        dp = dataplane(dispatcher)
        dp.set_table(table(1, State.AVAILABLE))
        with pytest.raises(OvmsError) as info:
            await dp.infer_call(Call(name="nope"), decode(1.0))
        assert info.value.status is E.MODEL_NAME_MISSING
        with pytest.raises(OvmsError) as info:
            await dp.infer_call(Call(name="nope"), decode(1.0), unknown=E.PIPELINE_DEFINITION_NAME_MISSING)
        assert info.value.status is E.PIPELINE_DEFINITION_NAME_MISSING  # the dialect's last lookup
        with pytest.raises(OvmsError) as info:
            await dp.infer_call(Call(name="m", version=7), decode(1.0))
        assert info.value.status is E.MODEL_VERSION_MISSING
        wrong = lambda s: DecodedTensors({"x": np.zeros((1, 3), np.float32)})  # noqa: E731
        with pytest.raises(OvmsError) as info:
            await dp.infer_call(Call(name="m"), wrong)
        assert info.value.status is E.INVALID_SHAPE  # validated before anything is dispatched
        assert not dispatcher.pending

    _run(body)


def test_lifecycle_counts_answers_and_the_version_that_answered() -> None:
    counted: list[tuple[str, int, int, bool]] = []

    class Metrics:
        def request_done(self, table: Any, name: str, version: int, index: int, ok: bool, started: float) -> None:
            counted.append((name, version, index, ok))

    life = Lifecycle(Metrics(), lambda: RoutingTable())  # type: ignore[arg-type]
    seen: list[int] = []

    async def work(call: Call, outcome: str) -> str:
        seen.append(life.active)
        if outcome == "error":
            raise OvmsError(E.MODEL_VERSION_NOT_LOADED_YET)
        if outcome == "crash":
            raise RuntimeError("a bug")
        call.answered = 3
        return "ok"

    async def main() -> list[str]:
        answers = Answers()
        calls = [Call(5, "m", 0), Call(5, "m", 2), Call(5, "m", 0), Call(-1, "m", 0), Call(5)]
        outcomes = ["ok", "error", "crash", "ok", "ok"]
        return [await life.run(c, answers, work, c, o) for c, o in zip(calls, outcomes, strict=True)]

    assert asyncio.run(main()) == ["ok", f"refused {E.MODEL_VERSION_NOT_LOADED_YET.http}", "failed", "ok", "ok"]
    assert seen == [1] * 5 and life.active == 0  # counted while handled, for the drain
    # counted on the version that answered; failures on the one named; series -1 and no name: nowhere
    assert counted == [("m", 3, 5, True), ("m", 2, 5, False), ("m", 0, 5, False)]


def _node(name: str, sources: tuple[tuple[str, str, str], ...], **kw: Any) -> PlanNode:
    return PlanNode(name, "m", 0, sources, (("out", "y"),), **kw)


def test_pipeline_runner_order_shards_and_failures() -> None:
    ran: list[tuple[str, tuple[int, ...]]] = []

    async def run_node(node: PlanNode, inputs: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        await asyncio.sleep(0.01 if node.name == "slow" else 0)
        x = inputs["x"]
        ran.append((node.name, x.shape))
        if node.name == "broken":
            raise OvmsError(E.INVALID_SHAPE)
        return [("y", x + 1)]

    # a diamond: two branches from the request, joined
    diamond = PipelinePlan(
        (
            _node("slow", (("x", "request", "in"),)),
            _node("fast", (("x", "request", "in"),)),
            PlanNode("join", "n", 0, (("x", "slow", "out"), ("z", "fast", "out")), (("out", "y"),)),
        ),
        (("result", "join", "out"),),
    )
    out = asyncio.run(run_pipeline(diamond, {"in": np.zeros((1, 2))}, run_node))
    assert [n for n, _ in ran] == ["fast", "slow", "join"]  # each node as soon as its sources answered
    assert np.array_equal(dict(out)["result"], np.full((1, 2), 2.0))
    # the request demultiplexed: "each" runs once per shard, the response gathers them
    ran.clear()
    shards = PipelinePlan(
        (_node("each", (("x", "request", "in"),), level=("request",)),),
        (("result", "each", "out"),),
        levels={"request": ("request",), "each": ("request",)},
        counts={"request": -1},
    )
    out = asyncio.run(run_pipeline(shards, {"in": np.arange(12.0).reshape(3, 1, 4)}, run_node))
    assert len(ran) == 3 and dict(out)["result"].shape == (3, 1, 4)
    assert np.array_equal(dict(out)["result"], np.arange(12.0).reshape(3, 1, 4) + 1)
    # the first failure is the answer; nothing after it runs
    ran.clear()
    failing = PipelinePlan(
        (_node("broken", (("x", "request", "in"),)), _node("after", (("x", "broken", "out"),))),
        (("result", "after", "out"),),
        chain=True,
    )
    with pytest.raises(OvmsError) as info:
        asyncio.run(run_pipeline(failing, {"in": np.zeros((1, 2))}, run_node))
    assert info.value.status is E.INVALID_SHAPE and [n for n, _ in ran] == ["broken"]


def test_binary_inputs_become_tensors_as_ovms_picks_their_use() -> None:
    from ovserve.frontend.binary_inputs import BinaryInputs, strings_2d
    from ovserve.frontend.validation import KSERVE
    from ovserve.shared.signature import TensorSpec

    assert np.array_equal(strings_2d([b"ab", b"c"]), np.array([[97, 98, 0], [99, 0, 0]], np.uint8))
    convert = BinaryInputs().convert
    text = TensorSpec("t", "string", ((1, 1),))
    same = asyncio.run(convert([(text, np.array([b"hi"], dtype=object))], KSERVE))
    assert same[0][1].dtype == object  # strings travel as they are
    two_d = TensorSpec("u", "u8", ((1, 1), (0, -1)))
    ((spec, array),) = asyncio.run(convert([(two_d, np.array([b"abc"], dtype=object))], KSERVE))
    assert spec is two_d and array.tolist() == [[97, 98, 99, 0]]  # 2-D strings: zero-terminated rows
    import cv2

    ok, png = cv2.imencode(".png", np.full((2, 3, 3), 7, np.uint8))
    image = TensorSpec("i", "f32", ((1, 1), (2, 2), (3, 3), (3, 3)), "NHWC")
    ((_, tensor),) = asyncio.run(convert([(image, np.array([png.tobytes()], dtype=object))], KSERVE))
    assert ok and tensor.shape == (1, 2, 3, 3) and tensor.dtype == np.float32 and float(tensor.max()) == 7.0
    nchw = TensorSpec("i", "f32", ((1, 1), (3, 3), (2, 2), (3, 3)), "NCHW")
    with pytest.raises(OvmsError) as info:
        asyncio.run(convert([(nchw, np.array([png.tobytes()], dtype=object))], KSERVE))
    assert info.value.status is E.UNSUPPORTED_LAYOUT
    with pytest.raises(OvmsError) as info:
        asyncio.run(convert([(image, np.array([b"not an image"], dtype=object))], KSERVE))
    assert info.value.status is E.IMAGE_PARSING_FAILED


def test_custom_nodes_run_check_and_retire(tmp_path: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """A front's custom node manager on the library the suite compiles: outputs checked against
    the library's own metadata, one instance per (node, library, params), and a node that left
    the routing table deinitialized (the library says so on stderr)."""
    from ovserve.frontend.pipeline.custom_nodes import CustomNodes

    from ovserve.custom_node_probe import probe
    from ovserve.probe_messages import ProbeAnswer, ProbeRequest
    from tests.test_custom_nodes import compile_library

    library = compile_library(str(tmp_path / "lib_add_sub.so"))
    params = (("add_value", "2"), ("sub_value", "0.5"))
    found = ProbeAnswer.decode(probe(ProbeRequest.decode(ProbeRequest(library, (params,)).encode())).encode())
    assert found.failure is None and found.nodes[0].failure is None and found.nodes[0].signature is not None
    signature = Signature.from_wire(found.nodes[0].signature)
    node = PlanNode(
        "n",
        "",
        0,
        (("input_numbers", "request", "x"),),
        (("o", "output_numbers"),),
        (),
        False,
        library,
        params,
        signature,
    )

    async def main() -> None:
        nodes = CustomNodes()
        x = np.array([[1.0, 2.0, 3.0]], np.float32)
        ((name, y),) = await nodes.run(node, [("input_numbers", x)], timeout_s=10)
        assert name == "output_numbers" and np.allclose(y, x + 1.5)
        again = await nodes.run(node, [("input_numbers", x * 2)], timeout_s=10)
        assert np.allclose(again[0][1], x * 2 + 1.5) and len(nodes.instances) == 1
        bad = PlanNode(
            node.name, "", 0, node.inputs, node.outputs, (), False, library, (*params, ("bad_size", "1")), signature
        )
        with pytest.raises(OvmsError):
            await nodes.run(bad, [("input_numbers", x)], timeout_s=10)
        capfd.readouterr()
        nodes.on_plans([])  # the table no longer has them: deinitialized once idle
        await asyncio.sleep(0.2)
        assert not nodes.instances
        assert capfd.readouterr().err.count("add_sub: deinitialize add=2 sub=0.5") == 2

    asyncio.run(main())
