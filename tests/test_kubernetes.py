"""deploy/kubernetes: every manifest parsed by kubectl (offline: ``kubectl label --local``) and
checked against what Kubernetes and KServe require of it; the ovserve arguments in them are
parsed by ovserve's own CLI, and the probe paths answered by a running server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from ovserve.cli import settings_from_args
from ovserve.settings import Settings
from tests.server_util import ROOT, Server

MANIFESTS = Path(ROOT) / "deploy" / "kubernetes"
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")


def documents(name: str) -> dict[str, dict[str, Any]]:
    """kind -> object, as kubectl reads the file (YAML, several documents)."""
    r = subprocess.run(
        ["kubectl", "label", "--local", "-f", str(MANIFESTS / name), "checked=yes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    decoder, text, out, i = json.JSONDecoder(), r.stdout, {}, 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        items = doc["items"] if doc.get("kind") == "List" else [doc]
        for item in items:
            out[item["kind"]] = item
    return out


def test_deployment_service_and_hpa(single_server: Server) -> None:
    docs = documents("ovserve.yaml")
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    deploy, service, hpa = docs["Deployment"], docs["Service"], docs["HorizontalPodAutoscaler"]
    assert deploy["apiVersion"] == "apps/v1"
    pod = deploy["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] and container["name"]
    settings = settings_from_args(container["args"])  # real ovserve flags, valid together
    assert isinstance(settings, Settings) and settings.rest_port == 8000 and settings.grpc_port == 9000
    assert settings.metrics_families  # /metrics is on, as the scrape annotations say
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.rest_port, "grpc": settings.grpc_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ports
        assert requests.get(single_server.url + get["path"], timeout=10).status_code == 200  # ovserve answers it
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] and resources["requests"]["cpu"].isdigit()
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    shm = [name for name, path in mounts.items() if path == "/dev/shm"]
    assert shm and volumes[shm[0]]["emptyDir"]["medium"] == "Memory"
    assert pod["spec"]["securityContext"]["runAsUser"] == 5000  # the image's user
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deploy["metadata"]["name"])
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_kserve_runtime_and_inference_service() -> None:
    runtime = documents("kserve-runtime.yaml")["ClusterServingRuntime"]
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    spec = runtime["spec"]
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert "openvino" in formats and set(spec["protocolVersions"]) == {"v1", "v2", "grpc-v2"}
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"  # the name KServe looks for
    args = [a.replace("{{.Name}}", "resnet") for a in container["args"]]
    settings = settings_from_args(args)  # as KServe passes them to OVMS's runtime
    assert isinstance(settings, Settings) and settings.models[0].base_path == "/mnt/models"
    assert settings.rest_port == 8080 and settings.file_system_poll_wait_seconds == 0
    assert {p["containerPort"] for p in container["ports"]} == {settings.rest_port}
    assert spec["annotations"]["prometheus.kserve.io/port"] == str(settings.rest_port)
    isvc = documents("inferenceservice.yaml")["InferenceService"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"] and model["modelFormat"]["name"] in formats
    assert model["storageUri"]
