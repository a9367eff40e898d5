"""ovserve under KServe ModelMesh's OVMS adapter contract (model-mesh-ovms-adapter): this test plays the
adapter's part. It writes ``model_config_list.json`` (compact, names in any order, only name and
base path), lays models out as symlinked version folders, sends an empty ``POST
/v1/config/reload``, reads the answer as the adapter does (a status map for 200/201, else a JSON
error, then ``GET /v1/config``) and looks only at ``model_version_status[0]``."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
import requests

from tests import modelgen
from tests.server_util import Server


class Adapter:
    """The adapter's side: the config file, the symlinked layout, the reload and its reading."""

    def __init__(self, root: Path, server: Server, store: Path) -> None:
        self.root, self.server, self.store = root, server, store
        self.models: dict[str, Path] = {}  # modelId -> the folder it is linked from
        self.at_boot = requests.get(server.url + "/v1/config", timeout=10)  # what the adapter saw first

    @property
    def config(self) -> Path:
        return self.root / "model_config_list.json"

    def write(self) -> None:
        ids = list(self.models)
        random.shuffle(ids)  # Go map iteration order
        entries = [{"config": {"name": i, "base_path": str(self.root / i)}} for i in ids]
        self.config.write_text(json.dumps({"model_config_list": entries}, separators=(",", ":")))

    def link(self, model_id: str, source: Path) -> None:
        """As adaptmodellayout.go: /models/<id>/<largest version>/<file> -> the source files."""
        version = max(int(p.name) for p in source.iterdir() if p.name.isdigit())
        target = self.root / model_id / str(version)
        target.mkdir(parents=True)
        for f in (source / str(version)).iterdir():
            os.symlink(f, target / f.name)
        self.models[model_id] = source

    def reload(self) -> tuple[dict[str, Any], float]:
        """The status map the adapter ends up with, and how long the reload took."""
        started = time.monotonic()
        r = requests.post(self.server.url + "/v1/config/reload", data=b"", timeout=30)
        took = time.monotonic() - started
        if r.status_code in (200, 201):
            return r.json(), took
        assert set(r.json()) == {"error"}, r.text  # any other code: a JSON error body
        status = requests.get(self.server.url + "/v1/config", timeout=30)
        assert status.status_code == 200
        return status.json(), took

    @staticmethod
    def outcome(status: dict[str, Any], model_id: str) -> str:
        if model_id not in status:
            return "INTERNAL: Expected model to load, but no status entry found in the config"
        first = status[model_id]["model_version_status"][0]  # the adapter reads only this one
        assert isinstance(first["version"], str)
        if first["state"] == "AVAILABLE":
            return "OK"
        code, reason = first["status"]["error_code"], first["status"]["error_message"]
        return f"UNKNOWN: OVMS model load failed. code: '{code}' reason: '{reason}'"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adapter]:
    store = tmp_path_factory.mktemp("model_store")  # where the models really are (ModelMesh's puller)
    modelgen.dummy(str(store / "plus1"), add=1.0)
    modelgen.dummy(str(store / "plus2"), version=3, add=2.0)
    bad = store / "broken" / "1"
    bad.mkdir(parents=True)
    (bad / "model.xml").write_text("<not a model")
    (bad / "model.bin").write_bytes(b"")
    root = tmp_path_factory.mktemp("models")
    (root / "model_config_list.json").write_text('{"model_config_list":[]}')  # what the adapter writes at boot
    log = str(tmp_path_factory.mktemp("logs") / "modelmesh.log")
    args = ["--config_path", str(root / "model_config_list.json"), "--file_system_poll_wait_seconds", "0"]
    server = Server(args, log, grpc=True)
    try:
        server.wait_ready()
        yield Adapter(root, server, store)
    finally:
        server.stop()


def test_runtime_status_on_an_empty_config(mesh: Adapter) -> None:
    r = mesh.at_boot  # read when the server came up: the module's other tests may have run since
    assert r.status_code == 200 and r.json() == {}  # parseable JSON: the adapter considers the runtime up


def test_load_serve_fail_and_unload(mesh: Adapter) -> None:
    store = mesh.store
    mesh.link("model-a__isvc-1", store / "plus1")
    mesh.link("model-b__isvc-2", store / "plus2")  # version 3: linked as the largest version
    mesh.write()
    status, took = mesh.reload()
    assert mesh.outcome(status, "model-a__isvc-1") == "OK", status
    assert mesh.outcome(status, "model-b__isvc-2") == "OK", status
    assert took < 30, took  # OVMS_RELOAD_TIMEOUT
    # the data plane ModelMesh forwards: TFS gRPC with model_spec.name = the model id
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{mesh.server.grpc_port}")
    x = np.ones((1, 10), np.float32)
    assert np.array_equal(client.predict(inputs={"b": x}, model_name="model-b__isvc-2"), x + 2)
    # a model that fails to load: the adapter reports OVMS's code and reason
    mesh.link("model-c__isvc-3", store / "broken")
    mesh.write()
    status, _ = mesh.reload()
    assert (
        mesh.outcome(status, "model-c__isvc-3") == "UNKNOWN: OVMS model load failed. code: 'UNKNOWN' reason: 'UNKNOWN'"
    )
    assert mesh.outcome(status, "model-a__isvc-1") == "OK"  # the others keep serving
    # unload: the entry leaves the file; the next reload applies it, the others stay
    del mesh.models["model-a__isvc-1"]
    del mesh.models["model-c__isvc-3"]
    mesh.write()
    status, _ = mesh.reload()
    assert mesh.outcome(status, "model-b__isvc-2") == "OK"
    gone = status.get("model-a__isvc-1", {"model_version_status": [{"state": "END"}]})
    assert gone["model_version_status"][0]["state"] == "END"
    r = requests.post(
        f"{mesh.server.url}/v1/models/model-a__isvc-1:predict", json={"instances": [[0] * 10]}, timeout=10
    )
    assert r.status_code == 404
    assert client.predict(inputs={"b": x}, model_name="model-b__isvc-2").shape == (1, 10)
