import os
from pathlib import Path
from typing import Any

from ovserve.shared.control import Unload
from ovserve.shared.model_config import ModelConfig
from ovserve.shared.model_options import VersionPolicy
from ovserve.shared.states import ErrorCode, State

from ovserve.registry import Order, Registry
from ovserve.routing_table import routing_table

SIG: list[Any] = [[], []]


def kind(order: Order) -> str:
    return order.message.KIND


def make(tmp_path: Path, versions: list[int], **kw: object) -> ModelConfig:
    for v in versions:
        os.makedirs(tmp_path / "m" / str(v), exist_ok=True)
    return ModelConfig("m", str(tmp_path / "m"), **kw)  # type: ignore[arg-type]


def states(reg: Registry) -> dict[int, tuple[State, ErrorCode]]:
    return {n: (v.state, v.error) for n, v in reg.models["m"].versions.items()}


def instance(reg: Registry, version: int) -> int:
    v = reg.models["m"].versions[version]
    assert v.current is not None
    return v.current.number


def ready(reg: Registry, workers: int = 2) -> None:
    for w in range(workers):
        reg.on_worker_ready(w, 1)


def serving_v1(tmp_path: Path) -> Registry:
    """One worker serving version 1 of model m."""
    reg = Registry([0])
    ready(reg, 1)
    reg.set_models([make(tmp_path, [1])])
    reg.rescan()
    reg.on_loaded(0, instance(reg, 1), True, SIG, "")
    return reg


def test_load_then_available(tmp_path: Path) -> None:
    reg = Registry([0, 1])
    ready(reg)
    reg.set_models([make(tmp_path, [1])])
    orders, changed, failed = reg.rescan()
    assert changed and not failed
    assert sorted((kind(o), o.worker) for o in orders) == [("load", 0), ("load", 1)]
    assert states(reg)[1] == (State.LOADING, ErrorCode.OK)
    reg.on_loaded(0, instance(reg, 1), True, SIG, "")
    assert states(reg)[1] == (State.AVAILABLE, ErrorCode.OK)
    assert not reg.settled
    reg.on_loaded(1, instance(reg, 1), True, SIG, "")
    assert reg.settled
    assert routing_table(reg).models["m"][0].workers == (0, 1)


def test_new_version_retires_old_only_after_available(tmp_path: Path) -> None:
    reg = serving_v1(tmp_path)
    make(tmp_path, [2])
    orders, changed, _ = reg.rescan()
    assert changed and [kind(o) for o in orders] == ["load"]
    assert states(reg)[1][0] == State.AVAILABLE  # still serving while 2 loads
    old = instance(reg, 1)
    assert reg.on_loaded(0, instance(reg, 2), True, SIG, "") == []
    unloads = reg.retire_superseded()
    assert [kind(o) for o in unloads] == ["unload"]
    assert states(reg)[1][0] == State.UNLOADING
    reg.on_unloaded(0, old)
    assert states(reg) == {1: (State.END, ErrorCode.OK), 2: (State.AVAILABLE, ErrorCode.OK)}


def test_failed_version_keeps_old_serving(tmp_path: Path) -> None:
    reg = serving_v1(tmp_path)
    make(tmp_path, [2])
    reg.rescan()
    bad = instance(reg, 2)
    reg.on_loaded(0, bad, False, None, "broken")
    assert reg.retire_superseded() == []
    assert states(reg) == {1: (State.AVAILABLE, ErrorCode.OK), 2: (State.LOADING, ErrorCode.UNKNOWN)}
    assert reg.failed_loads([bad]) == [("m", 2)]


def test_removed_directory_and_model(tmp_path: Path) -> None:
    reg = Registry([0])
    ready(reg, 1)
    make(tmp_path, [1, 2])
    reg.set_models([ModelConfig("m", str(tmp_path / "m"), VersionPolicy("all"))])
    reg.rescan()
    one, two = instance(reg, 1), instance(reg, 2)
    reg.on_loaded(0, one, True, SIG, "")
    reg.on_loaded(0, two, True, SIG, "")
    os.rmdir(tmp_path / "m" / "2")
    orders, changed, _ = reg.rescan()
    assert changed and orders == [Order(0, Unload("m", 2, two))]
    reg.on_unloaded(0, two)
    assert states(reg)[2] == (State.END, ErrorCode.OK)
    reg.set_models([])
    reg.on_unloaded(0, one)
    assert states(reg)[1] == (State.END, ErrorCode.OK)
    assert "m" in routing_table(reg).models  # a removed model stays listed


def test_changed_config_loads_beside_and_swaps(tmp_path: Path) -> None:
    reg = serving_v1(tmp_path)
    first = instance(reg, 1)
    orders = reg.set_models([make(tmp_path, [1], nireq=4)])
    assert [kind(o) for o in orders] == ["load"]
    new = orders[0].message.instance
    assert new != first and states(reg)[1] == (State.AVAILABLE, ErrorCode.OK)
    assert routing_table(reg).models["m"][0].instance == first  # the old instance serves meanwhile
    swap = reg.on_loaded(0, new, True, SIG, "")
    assert swap == [Order(0, Unload("m", 1, first))]
    assert routing_table(reg).models["m"][0].instance == new
    reg.on_unloaded(0, first)
    assert reg.settled and states(reg)[1] == (State.AVAILABLE, ErrorCode.OK)


def test_changed_config_that_fails_keeps_old(tmp_path: Path) -> None:
    reg = serving_v1(tmp_path)
    first = instance(reg, 1)
    new = reg.set_models([make(tmp_path, [1], nireq=4)])[0].message.instance
    assert reg.on_loaded(0, new, False, None, "bad shape") == []
    assert instance(reg, 1) == first and states(reg)[1] == (State.AVAILABLE, ErrorCode.OK)
    assert reg.failed_loads([new]) == [("m", 1)]


def test_worker_lost_and_replayed(tmp_path: Path) -> None:
    reg = serving_v1(tmp_path)
    reg.on_worker_lost(0)
    assert states(reg)[1] == (State.LOADING, ErrorCode.OK)
    orders = reg.on_worker_ready(0, 2)
    assert [(kind(o), o.worker) for o in orders] == [("load", 0)]
    reg.on_loaded(0, instance(reg, 1), True, SIG, "")
    assert states(reg)[1] == (State.AVAILABLE, ErrorCode.OK)


def test_policies() -> None:
    assert VersionPolicy().select([3, 1, 2]) == [3]
    assert VersionPolicy("latest", num_versions=2).select([3, 1, 2]) == [2, 3]
    assert VersionPolicy("all").select([3, 1]) == [1, 3]
    assert VersionPolicy("specific", versions=(1, 5)).select([1, 2, 3]) == [1]
    assert VersionPolicy.parse('{"latest": {"num_versions": 2}}') == VersionPolicy("latest", 2)
    assert VersionPolicy.parse({"specific": {"versions": [1, 2]}}).versions == (1, 2)


def test_replicas_spread_models_over_workers(tmp_path: Path) -> None:
    reg = Registry([0, 1, 2], replicas=1)
    for w in range(3):
        reg.on_worker_ready(w, 1)
    configs = []
    for name in ("a", "b", "c", "d"):
        os.makedirs(tmp_path / name / "1", exist_ok=True)
        configs.append(ModelConfig(name, str(tmp_path / name)))
    reg.set_models(configs)
    orders, _, _ = reg.rescan()
    hosts = {o.message.name: o.worker for o in orders}
    assert sorted(hosts.values()) == [0, 0, 1, 2] and len(orders) == 4  # one worker each, spread by load
    table = routing_table(reg).models
    reg.on_loaded(hosts["a"], orders[0].message.instance, True, SIG, "")
    assert routing_table(reg).models["a"][0].workers == (hosts["a"],)  # the routing table says where it lives
    assert set(table) == {"a", "b", "c", "d"}


def test_repository_layouts(tmp_path: Path) -> None:
    from ovserve.shared.repository import RepositoryError, find_model_file, list_versions

    for name in ("1", "02", "+3", "x", "0", "-1"):
        os.makedirs(tmp_path / "m" / name)
    (tmp_path / "m" / "file").write_text("")
    assert sorted(list_versions(str(tmp_path / "m"))) == [1, 2, 3]
    v = tmp_path / "m" / "1"
    (v / "b.onnx").write_text("")
    assert find_model_file(str(v)) == str(v / "b.onnx")
    (v / "a.xml").write_text("")
    assert find_model_file(str(v)) == str(v / "b.onnx")  # an .xml without its .bin does not count
    (v / "a.bin").write_text("")
    assert find_model_file(str(v)) == str(v / "a.xml")
    assert list_versions(str(v / "b.onnx")) == {1: str(v / "b.onnx")}  # single-file mode
    assert find_model_file(str(v / "b.onnx")) == str(v / "b.onnx")
    (tmp_path / "m" / "02" / "saved_model.pb").write_text("")
    assert find_model_file(str(tmp_path / "m" / "02")) == str(tmp_path / "m" / "02")
    for bad in (str(tmp_path / "nope"), str(tmp_path / "m" / ".." / "m")):
        try:
            list_versions(bad)
        except RepositoryError:
            continue
        raise AssertionError(bad)
