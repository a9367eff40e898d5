"""DAG pipeline definitions: OVMS's schema for ``pipeline_config_list`` and the load-time checks
in OVMS's order with its status codes and log lines, and the signature a pipeline gets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ovserve.shared import errors as E
from ovserve.shared.pipeline_config import PipelineSchemaError, Source, parse_libraries, parse_pipelines
from ovserve.shared.signature import UNDEFINED, Signature, TensorSpec

from ovserve.custom_libraries import NodeProbe
from ovserve.pipeline_check import PipelineError, Servables, validate_pipeline
from tests.pipeline_util import custom_node
from tests.pipeline_util import node as dl
from tests.pipeline_util import pipeline as make_pipeline

DUMMY = Signature((TensorSpec("b", "f32", ((1, 1), (10, 10))),), (TensorSpec("a", "f32", ((1, 1), (10, 10))),))
TWO = Signature(
    (TensorSpec("a", "f32", ((1, -1), (3, 3))), TensorSpec("b", "i32", ((1, -1), (2, 2)))),
    (TensorSpec("sum", "f32", ((1, -1), (3, 3))), TensorSpec("neg", "i32", ((1, -1), (2, 2)))),
)
RANGE_A = Signature((TensorSpec("x", "f32", ((1, 20), (3, 17))),), (TensorSpec("y", "f32", ((1, 20), (3, 17))),))
RANGE_B = Signature((TensorSpec("x", "f32", ((15, 30), (1, 4))),), (TensorSpec("y", "f32", ((15, 30), (1, 4))),))
TILE = Signature((TensorSpec("x", "f32", ((1, 1), (10, 10))),), (TensorSpec("t", "f32", ((3, 3), (1, 1), (10, 10))),))
SUM3 = Signature(
    (TensorSpec("s", "f32", ((3, 3), (1, 1), (10, 10))),), (TensorSpec("total", "f32", ((1, 1), (10, 10))),)
)
MODELS = {"dummy": DUMMY, "two": TWO, "range_a": RANGE_A, "range_b": RANGE_B, "tile3": TILE, "sum3": SUM3}


def signature_of(model: str, version: int) -> Signature | None:
    return MODELS.get(model) if version in (0, 1) else None


def pipeline(nodes: list[dict], outputs: dict[str, tuple[str, str]], inputs: list[str], name: str = "p") -> dict:
    return make_pipeline(name, inputs, nodes, outputs)


# OVMS's config_dummy_dag.json: one DL node
ONE_NODE = pipeline(
    [dl("dummyNode", "dummy", {"b": ("request", "b")}, {"a": "a"})], {"a": ("dummyNode", "a")}, ["b"], "pipeline1Dummy"
)
CHAIN = pipeline(
    [
        dl("first", "dummy", {"b": ("request", "in")}, {"out1": "a"}),
        dl("second", "dummy", {"b": ("first", "out1")}, {"out2": "a"}),
    ],
    {"result": ("second", "out2")},
    ["in"],
)


def check(doc: dict, models: set[str] | None = None) -> Any:
    (p,) = parse_pipelines([doc])
    return validate_pipeline(p, Servables(models or set(MODELS), signature_of))


def failure(doc: dict) -> tuple[E.Status, str]:
    with pytest.raises(PipelineError) as info:
        check(doc)
    return info.value.status, info.value.log_line


def test_parse_ovms_example() -> None:
    (p,) = parse_pipelines([ONE_NODE])
    assert p.name == "pipeline1Dummy" and p.inputs == ("b",)
    assert p.nodes[0].model == "dummy" and p.nodes[0].inputs == (("b", Source("request", "b")),)
    assert p.outputs == (("a", Source("dummyNode", "a")),)


def test_signature_of_one_node_and_a_chain() -> None:
    valid = check(ONE_NODE)
    assert valid.signature.inputs == (TensorSpec("b", "f32", ((1, 1), (10, 10))),)
    assert valid.signature.outputs == (TensorSpec("a", "f32", ((1, 1), (10, 10))),)
    chain = check(CHAIN)
    assert chain.order == ("first", "second")
    assert [t.name for t in chain.signature.inputs] == ["in"]
    assert [t.name for t in chain.signature.outputs] == ["result"]


def test_shared_input_ranges_intersect_and_unused_inputs_vanish() -> None:
    doc = pipeline(
        [
            dl("n1", "range_a", {"x": ("request", "in")}, {"o": "y"}),
            dl("n2", "range_b", {"x": ("request", "in")}, {"o": "y"}),
        ],
        {"o1": ("n1", "o"), "o2": ("n2", "o"), "echo": ("request", "raw")},
        ["in", "unused", "raw"],
    )
    sig = check(doc).signature
    assert sig.inputs[0] == TensorSpec("in", "f32", ((15, 20), (3, 4)))  # OVMS's TwoParallelModels...Intersection
    assert [t.name for t in sig.inputs] == ["in", "raw"]  # "unused" feeds nothing: not in metadata
    assert sig.inputs[1].element_type == UNDEFINED and sig.outputs[2] == TensorSpec("echo", UNDEFINED, ())


@pytest.mark.parametrize(
    ("change", "status", "log"),
    [
        (lambda d: d["nodes"].append(copy.deepcopy(d["nodes"][0])), E.PIPELINE_NODE_NAME_DUPLICATE, "multiple nodes"),
        (
            lambda d: d["nodes"][0].update(model_name="nope"),
            E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL,
            "Missing model: nope",
        ),
        (lambda d: d["nodes"][0].update(version=5), E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL, "version: 5"),
        (
            lambda d: d["nodes"][1]["inputs"][0]["b"].update(node_name="ghost"),
            E.PIPELINE_NODE_REFERING_TO_MISSING_NODE,
            "missing dependency node (name: ghost)",
        ),
        (
            lambda d: d["nodes"][1]["inputs"][0]["b"].update(node_name="response"),
            E.PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY,
            "Exit node",
        ),
        (
            lambda d: d["nodes"][1]["inputs"][0].update({"z": d["nodes"][1]["inputs"][0].pop("b")}),
            E.PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT,
            "has no input with name: z",
        ),
        (
            lambda d: d["nodes"][1]["inputs"].append({"b": {"node_name": "request", "data_item": "in"}}),
            E.PIPELINE_MODEL_INPUT_CONNECTED_TO_MULTIPLE_DATA_SOURCES,
            "multiple data sources",
        ),
        (
            lambda d: d["nodes"][1]["inputs"][0]["b"].update(data_item="nothing"),
            E.PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE,
            "data item: nothing",
        ),
        (
            lambda d: d["nodes"][0]["outputs"][0].update(data_item="zzz"),
            E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT,
            "Missing model output: zzz",
        ),
        (
            lambda d: d["nodes"][1]["inputs"].clear(),
            E.PIPELINE_NOT_ALL_INPUTS_CONNECTED,
            "has inputs:: b not connected",
        ),
        (
            lambda d: d["nodes"][0]["inputs"][0]["b"].update(node_name="second", data_item="out2"),
            E.PIPELINE_CYCLE_FOUND,
            "creates cycle",
        ),
        (
            lambda d: d["nodes"][0]["inputs"][0]["b"].update(node_name="first", data_item="out1"),
            E.PIPELINE_CYCLE_FOUND,
            "connected to itself",
        ),
        (
            lambda d: d["nodes"].append(dl("lonely", "dummy", {"b": ("request", "in")}, {"x": "a"})),
            E.PIPELINE_CONTAINS_UNCONNECTED_NODES,
            "not connected nodes",
        ),
        (
            lambda d: d["outputs"][0]["result"].update(data_item="nope"),
            E.PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE,
            "for dependent node: response",
        ),
        (
            lambda d: d["nodes"][1].update(model_name="two", inputs=[{"a": {"node_name": "first", "data_item": "out1"}},
                                                                    {"b": {"node_name": "request", "data_item": "in"}}],
                                           outputs=[{"data_item": "sum", "alias": "out2"}]),
            E.INVALID_SHAPE,
            "Shape mismatch between: dependent node: second; input: a; shape: ([1~-1],3) vs dependency node: first",
        ),
    ],
)  # fmt: skip
def test_validation_failures(change: Any, status: E.Status, log: str) -> None:
    doc = copy.deepcopy(CHAIN)
    change(doc)
    got_status, got_log = failure(doc)
    assert got_status == status and log in got_log, got_log


def test_precision_mismatch_and_ambiguous_inputs() -> None:
    doc = pipeline(
        [
            dl("t", "two", {"a": ("request", "x"), "b": ("request", "y")}, {"s": "sum", "n": "neg"}),
            dl("d", "dummy", {"b": ("request", "y")}, {"o": "a"}),
        ],
        {"s": ("t", "s"), "o": ("d", "o")},
        ["x", "y"],
    )
    assert failure(doc)[0] == E.PIPELINE_INPUTS_AMBIGUOUS_METADATA  # y: i32 [-1,2] and f32 [1,10]
    doc = pipeline(
        [
            dl("t", "two", {"a": ("request", "x"), "b": ("request", "y")}, {"s": "sum", "n": "neg"}),
            dl("t2", "two", {"a": ("t", "s"), "b": ("t", "s")}, {"s": "sum"}),
        ],
        {"s": ("t2", "s")},
        ["x", "y"],
    )
    status, log = failure(doc)  # sum is f32 [-1,3]; input b is i32 [-1,2]: the shape is checked first
    assert status == E.INVALID_SHAPE and "input: b" in log


def test_name_clash_with_a_model() -> None:
    with pytest.raises(PipelineError) as info:
        check({**ONE_NODE, "name": "dummy"})
    assert info.value.status == E.PIPELINE_NAME_OCCUPIED
    assert info.value.log_line == "Pipeline name: dummy is already occupied by model or mediapipe graph."


ADD = Signature((TensorSpec("in", "f32", ((1, 1), (0, -1))),), (TensorSpec("out", "f32", ((1, 1), (0, -1))),))
PROBES = {
    "add": NodeProbe(ADD),
    "wide": NodeProbe(Signature(ADD.inputs, (TensorSpec("out", "f32", ((1, 1), (11, 11))),))),
    "bad_init": NodeProbe(None, E.NODE_LIBRARY_INITIALIZE_FAILED, "Initialization of library with base path: x failed"),
}


def custom(name: str, library: str, inputs: dict[str, tuple[str, str]], outputs: dict[str, str]) -> dict:
    return custom_node(name, library, inputs, outputs, {})


def check_custom(doc: dict) -> Any:
    (p,) = parse_pipelines([doc])
    return validate_pipeline(p, Servables(set(MODELS), signature_of, lambda library, params: PROBES.get(library)))


def test_custom_nodes_validated_with_their_library_metadata() -> None:
    doc = pipeline(
        [
            custom("pre", "add", {"in": ("request", "x")}, {"p": "out"}),
            dl("model", "dummy", {"b": ("pre", "p")}, {"a": "a"}),
        ],
        {"y": ("model", "a"), "p": ("pre", "p")},
        ["x"],
    )
    valid = check_custom(doc)
    assert {t.name: t.dims for t in valid.signature.inputs} == {"x": ((1, 1), (0, -1))}  # metadata: [1,-1]
    assert {t.name: t.dims for t in valid.signature.outputs} == {"y": ((1, 1), (10, 10)), "p": ((1, 1), (0, -1))}
    wide = {**doc, "nodes": [custom("pre", "wide", {"in": ("request", "x")}, {"p": "out"}), doc["nodes"][1]]}
    with pytest.raises(PipelineError) as info:
        check_custom(wide)  # 11 wide into dummy's 10
    assert info.value.status == E.INVALID_SHAPE
    for library, status in (
        ("nowhere", E.PIPELINE_DEFINITION_INVALID_NODE_LIBRARY),
        ("bad_init", E.NODE_LIBRARY_INITIALIZE_FAILED),
    ):
        broken = {**doc, "nodes": [custom("pre", library, {"in": ("request", "x")}, {"p": "out"}), doc["nodes"][1]]}
        broken["nodes"].append(broken["nodes"][1])  # a duplicate node name: checked after the libraries
        with pytest.raises(PipelineError) as info:
            check_custom(broken)
        assert info.value.status == status
    assert info.value.log_line == "Initialization of library with base path: x failed"
    with pytest.raises(PipelineError) as info:
        check_custom({**doc, "nodes": [custom("pre", "nowhere", {"in": ("request", "x")}, {"p": "out"})]})
    assert info.value.log_line == "Pipeline: p node: pre refers to invalid library"


DEMUX = pipeline(
    [
        dl("tile", "tile3", {"x": ("request", "x")}, {"t": "t"}, demultiply_count=3),
        dl("each", "dummy", {"b": ("tile", "t")}, {"a": "a"}),
        dl("sum", "sum3", {"s": ("each", "a")}, {"total": "total"}, gather_from_node="tile"),
    ],
    {"total": ("sum", "total"), "each": ("each", "a")},
    ["x"],
)


def test_demultiplexing_shapes() -> None:
    valid = check(DEMUX)
    assert valid.counts == {"tile": 3} and valid.runs == {"tile": (), "each": ("tile",), "sum": ()}
    assert valid.levels == {"request": (), "tile": ("tile",), "each": ("tile",), "sum": ()}
    assert {t.name: t.dims for t in valid.signature.outputs} == {
        "total": ((1, 1), (10, 10)),
        "each": ((3, 3), (1, 1), (10, 10)),  # gathered by the response: the shards' dim in front
    }
    entry = check({**ONE_NODE, "demultiply_count": 0})  # 0 means dynamic (-1), as OVMS
    assert entry.counts == {"request": -1} and entry.signature.inputs[0].dims == ((0, -1), (1, 1), (10, 10))


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda d: d["nodes"][2].update(gather_from_node="ghost"), E.PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE),
        (lambda d: d["nodes"][2].update(gather_from_node="each"), E.PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER),
        (
            lambda d: d["nodes"][0].update(demultiply_count=4),
            E.PIPELINE_DEMULTIPLY_COUNT_DOES_NOT_MATCH_TENSOR_SHARD_COUNT,
        ),
        (lambda d: d["nodes"][1].update(demultiply_count=2), E.PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY),
        (lambda d: d.update(demultiply_count=-1), E.NOT_IMPLEMENTED),  # two demultiplexers, one dynamic
        (lambda d: d["nodes"][2].pop("gather_from_node"), E.INVALID_SHAPE),  # sum3 gets [1,10] shards
        (
            lambda d: d["nodes"].__setitem__(0, {**d["nodes"][1], "name": "tile", "demultiply_count": 3,
                                                 "inputs": [{"b": {"node_name": "request", "data_item": "x"}}]}),
            E.PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY,
        ),
    ],
)  # fmt: skip
def test_demultiplexing_failures(change: Any, status: E.Status) -> None:
    doc = copy.deepcopy(DEMUX)
    change(doc)
    assert failure(doc)[0] == status


NESTED = pipeline(  # OVMS's CustomNodeMultipleDemultiplexers, with model nodes: 3 shards, then 3 of each
    [
        dl("outer", "tile3", {"x": ("request", "x")}, {"t": "t"}, demultiply_count=3),
        dl("inner", "tile3", {"x": ("outer", "t")}, {"t": "t"}, demultiply_count=3),
        dl("each", "dummy", {"b": ("inner", "t")}, {"a": "a"}),
        dl("sum", "sum3", {"s": ("each", "a")}, {"total": "total"}, gather_from_node="inner"),
    ],
    {"sums": ("sum", "total"), "all": ("each", "a")},
    ["x"],
)


def test_nested_demultiplexers() -> None:
    valid = check(NESTED)
    assert valid.counts == {"outer": 3, "inner": 3}
    assert valid.runs == {"outer": (), "inner": ("outer",), "each": ("outer", "inner"), "sum": ("outer",)}
    assert {t.name: t.dims for t in valid.signature.outputs} == {
        "sums": ((3, 3), (1, 1), (10, 10)),  # the inner level gathered by sum, the outer by the response
        "all": ((3, 3), (3, 3), (1, 1), (10, 10)),  # both gathered by the response, outer first
    }
    wrong = copy.deepcopy(NESTED)
    wrong["nodes"][3]["gather_from_node"] = "outer"  # not LIFO: the inner one is still open
    status, log = failure(wrong)
    assert status == E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER
    assert (
        log == "In pipeline: p exists path that doesn't gather from demultiplexer node: inner, connection to node: sum."
    )
    mixed = copy.deepcopy(NESTED)  # sum takes one inner shard set and a whole tensor of another level
    mixed["nodes"][2]["inputs"] = [{"b": {"node_name": "outer", "data_item": "t"}}]
    assert failure(mixed)[0] == E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER


SOURCE = {"node_name": "x", "data_item": "y"}


@pytest.mark.parametrize(
    "bad",
    [
        {**ONE_NODE, "extra": 1},
        {k: v for k, v in ONE_NODE.items() if k != "outputs"},
        {**ONE_NODE, "inputs": "b"},
        {**ONE_NODE, "nodes": [{**ONE_NODE["nodes"][0], "type": "python"}]},
        {**ONE_NODE, "nodes": [{**ONE_NODE["nodes"][0], "library_name": "lib"}]},
        {**ONE_NODE, "nodes": [{**ONE_NODE["nodes"][0], "version": 0}]},
        {**ONE_NODE, "nodes": [{**ONE_NODE["nodes"][0], "demultiply_count": 10001}]},
        {**ONE_NODE, "outputs": [{"a": {"node_name": "dummyNode"}}]},
        {**ONE_NODE, "outputs": [{"a": SOURCE, "b": SOURCE}]},
        {**ONE_NODE, "nodes": [{**ONE_NODE["nodes"][0], "params": {"k": 1}}]},
    ],
)
def test_schema_violations(bad: dict) -> None:
    with pytest.raises(PipelineSchemaError):
        parse_pipelines([bad])


def test_duplicate_pipeline_names_keep_the_first(caplog: pytest.LogCaptureFixture) -> None:
    second = {**ONE_NODE, "inputs": ["b", "c"]}
    assert [p.inputs for p in parse_pipelines([ONE_NODE, second])] == [("b",)]
    assert "Duplicated pipeline names: pipeline1Dummy defined in config file." in caplog.text


def test_custom_node_library_list() -> None:
    items = [
        {"name": "a", "base_path": "libs/a.so"},
        {"name": "b", "base_path": "/opt/b.so"},
        {"name": "up", "base_path": "../c.so"},  # logged and left out: its pipelines fail validation
        {"name": "a", "base_path": "other.so"},  # the first definition is used
    ]
    assert parse_libraries(items, "/etc/ovms") == {"a": "/etc/ovms/libs/a.so", "b": "/opt/b.so"}
    for bad in ({"name": "a"}, {"name": "a", "base_path": 1}, {"name": "a", "base_path": "x", "extra": 1}):
        with pytest.raises(PipelineSchemaError):
            parse_libraries([bad], "/")


STRINGS = Signature((TensorSpec("s", "string", ((0, -1), (0, -1), (0, -1))),),
                    (TensorSpec("t", "string", ((3, 3), (0, -1), (0, -1))),))  # fmt: skip


def test_auto_shapes_and_string_tensors_refused() -> None:
    (p,) = parse_pipelines([ONE_NODE])
    with pytest.raises(PipelineError) as info:
        validate_pipeline(p, Servables(set(MODELS), signature_of, uses_auto=lambda model: model == "dummy"))
    assert info.value.status == E.FORBIDDEN_MODEL_DYNAMIC_PARAMETER
    assert "used model name: dummy with batch/shape parameter set to 'auto' which is forbidden" in info.value.log_line

    def with_strings(model: str, version: int) -> Signature | None:
        return STRINGS if model == "text" else signature_of(model, version)

    def run(doc: dict) -> E.Status:
        (p,) = parse_pipelines([doc])
        with pytest.raises(PipelineError) as info:
            validate_pipeline(p, Servables({*MODELS, "text"}, with_strings))
        return info.value.status

    chain = pipeline(
        [dl("a", "text", {"s": ("request", "x")}, {"t": "t"}), dl("b", "text", {"s": ("a", "t")}, {"t": "t"})],
        {"y": ("b", "t")},
        ["x"],
    )
    assert run(chain) == E.NOT_IMPLEMENTED  # a string tensor between two nodes
    split = pipeline(
        [dl("a", "text", {"s": ("request", "x")}, {"t": "t"}, demultiply_count=3)], {"y": ("a", "t")}, ["x"]
    )
    assert run(split) == E.PIPELINE_STRING_DEMUILTIPLICATION_UNSUPPORTED
    entry = {**pipeline([dl("a", "text", {"s": ("request", "x")}, {"t": "t"})], {"y": ("a", "t")}, ["x"]),
             "demultiply_count": 2}  # fmt: skip
    assert run(entry) == E.PIPELINE_STRING_DEMUILTIPLICATION_UNSUPPORTED
