"""The container image, built and run here: deploy/build_image.sh (buildah, a base made by
mmdebstrap: no registry is reachable), then ``buildah run --isolation=chroot`` serves the bundled
model as the image's non-root user, and a predict is answered."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from tests.server_util import ROOT, free_port, wait_ok

TAG = "localhost/ovserve-test:latest"
pytestmark = [
    pytest.mark.slow,  # one list: a second assignment would drop the first mark
    pytest.mark.skipif(
        os.geteuid() != 0 or not (shutil.which("buildah") and shutil.which("mmdebstrap")),
        reason="building the image needs root, buildah and mmdebstrap (Debian packages; .ci/run installs them)",
    ),
]


def buildah(*args: str, timeout: float = 120) -> str:
    r = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_image_builds_and_serves() -> None:
    build = subprocess.run(
        [os.path.join(ROOT, "deploy", "build_image.sh"), TAG], capture_output=True, text=True, timeout=1200
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    config = buildah(
        "inspect", "--type", "image", "--format", "{{.Docker.Config.User}}|{{.Docker.Config.Healthcheck}}", TAG
    )
    user, health = config.split("|", 1)
    assert user == "ovserve" and "/v2/health/ready" in health
    labels = buildah("inspect", "--type", "image", "--format", "{{.Docker.Config.Labels}}", TAG)
    assert "org.opencontainers.image.title:ovserve" in labels
    print("image size:", buildah("images", "--format", "{{.Size}}", TAG))
    ctr = buildah("from", TAG)
    port = free_port()
    try:
        assert buildah("run", "--isolation=chroot", ctr, "--", "id", "-u") == "5000"  # non-root
        args = ["--model_name", "dummy", "--model_path", "/opt/ovserve/models/dummy"]
        args += ["--rest_port", str(port), "--rest_bind_address", "127.0.0.1"]
        proc = subprocess.Popen(
            ["buildah", "run", "--isolation=chroot", ctr, "--", "ovserve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/v1/models/dummy:predict"
            r = wait_ok(url, 120, {"instances": [[1.0] * 10]}, proc)
            assert r.json() == {"predictions": [[2.0] * 10]}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    finally:
        buildah("rm", ctr)
