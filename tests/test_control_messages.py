"""The control plane's typed formats: every message, routing-table row, plan and load option
survives its one encoder and decoder unchanged, through msgpack as it travels."""

from __future__ import annotations

import pytest
from ovserve.shared import control as C
from ovserve.shared.model_config import ModelConfig
from ovserve.shared.model_options import ALL_INPUTS, ShapeOption, parse_plugin_config
from ovserve.shared.pipeline_plan import PipelinePlan, PlanNode
from ovserve.shared.routing_rows import PipelineRow, RoutingTableWire, VersionRow
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.shared.states import ErrorCode, State

SIG = Signature((TensorSpec("b", "f32", ((1, 1), (10, 10)), "NC"),), (TensorSpec("a", "f32", ((-1, -1),), ""),))
OPTIONS = ModelConfig(
    "m",
    "/m",
    batch_size=(1, 8),
    shape=ShapeOption(per_input=(("b", ((1, 1), (0, -1))),)),
    layout='{"b": "NHWC:NCHW"}',
    nireq=3,
    plugin_config=parse_plugin_config({"OVSERVE_MAX_BATCH": 8, "NUM_STREAMS": 2}),
).load_options()
PLAN = PipelinePlan(
    (
        PlanNode("first", "m", 0, (("b", "request", "in"),), (("x", "a"),)),
        PlanNode("cut", "", 0, (("t", "first", "x"),), (("y", "t"),), ("cut",), False, "/lib.so", (("k", "v"),), SIG),
        PlanNode("join", "n", 2, (("b", "cut", "y"),), (("z", "a"),), (), True),
    ),
    (("out", "join", "z"),),
    False,
    {"cut": ("cut",)},
    {"cut": -1},
)
TABLE = RoutingTableWire(
    7,
    {"m": [VersionRow(1, State.AVAILABLE, ErrorCode.OK, SIG.to_wire(), (0, 1), 4, 0)]},
    {"p": PipelineRow(State.AVAILABLE, ErrorCode.OK, SIG.to_wire(), PLAN, 1)},
    {0: 2, 1: 1},
    True,
)
MESSAGES: list[C.ControlMessage] = [
    C.Hello(C.WORKER, 0, 1234, 2),
    C.Hello(C.FRONT, 3, 99, 1, "ovserve-1-front3-g1"),
    C.Serving(3),
    C.Load("m", 2, 17, "/models/m/2", OPTIONS, 5),
    C.Load("m", 1, 18, "/models/m/1", ModelConfig("m", "/m", shape=ShapeOption(auto=True)).load_options()),
    C.Unload("m", 2, 17),
    C.Loaded(0, 17, True, SIG.to_wire()),
    C.Loaded(1, 17, False, error="Unable to read the model"),
    C.Unloaded(0, 17),
    C.ForgetArena("ovserve-1-front3-g1"),
    C.TableUpdate(TABLE),
    C.TableApplied(1, 7),
    C.Reload(4),
    C.ReloadResult(4, 201, None),
    C.ReloadResult(5, 412, "Reloading config file failed"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: C.ControlMessage) -> None:
    assert C.decode(C.encode(message)) == message


def test_what_the_front_and_worker_read() -> None:
    table = C.decode(C.encode(C.TableUpdate(TABLE)))
    assert isinstance(table, C.TableUpdate)
    plan = table.table.pipelines["p"].plan
    assert plan is not None and plan.nodes[1].signature == SIG and not plan.chain and not plan.models_only
    assert table.table.models["m"][0].state is State.AVAILABLE
    load = C.decode(C.encode(MESSAGES[3]))
    assert isinstance(load, C.Load)
    assert load.options.batch_size == (1, 8) and load.options.max_batch == 8
    assert load.options.plugin_config == {"NUM_STREAMS": "2"} and load.options.layout == {"b": "NHWC:NCHW"}
    assert ModelConfig("m", "/m", layout="NHWC").load_options().layout == {ALL_INPUTS: "NHWC"}


def test_a_chain_is_recognised_on_arrival() -> None:
    chain = PipelinePlan(
        (
            PlanNode("first", "m", 0, (("b", "request", "in"),), (("x", "a"),)),
            PlanNode("second", "n", 2, (("b", "first", "x"),), (("y", "a"),)),
        ),
        (("out", "second", "y"),),
    )
    arrived = PipelinePlan.decode(chain.encode())
    assert arrived.chain and arrived.models_only and arrived.nodes == chain.nodes


def test_unknown_or_malformed_messages_are_refused() -> None:
    from ovserve.shared.protocol import pack

    for data in (pack(["no such kind", 1]), pack({"t": "hello"}), pack([])):
        with pytest.raises(ValueError):
            C.decode(data)
