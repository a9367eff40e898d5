"""The wheel: one top-level package (``ovserve``; ``frontend/``, ``workers/`` and ``shared/`` go in
as its subpackages, so nothing collides with a user's ``shared`` or ``workers``), installed into a
clean venv and serving from there, away from the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.server_util import ROOT, free_port, wait_ok


@pytest.mark.slow
def test_wheel_installs_one_namespace_and_serves(tmp_path: Path) -> None:
    dist, source = tmp_path / "dist", tmp_path / "source"
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listed, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for name in tracked.split():  # the checkout's files, not what it ignores (no stale build/ folder)
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(ROOT) / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("ovserve-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"ovserve"}, tops
    assert "ovserve/shared/errors.py" in names and "ovserve/frontend/grpc_api/proto/tf_serving_pb2.py" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stderr
    port = free_port()
    model = Path(ROOT) / "models" / "dummy"
    argv = [str(venv / "bin" / "ovserve"), "--model_name", "dummy", "--model_path", str(model)]
    argv += ["--rest_port", str(port), "--rest_bind_address", "127.0.0.1", "--front_processes", "1"]
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)  # not the checkout
    try:
        url = f"http://127.0.0.1:{port}/v1/models/dummy:predict"
        r = wait_ok(url, 90, {"instances": [[1.0] * 10]}, proc, str(tmp_path / "log"))
        assert r.json() == {"predictions": [[2.0] * 10]}
        where = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import ovserve.shared.errors as e; print(e.__file__)"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert str(venv) in where.stdout, where  # the installed copy, not the checkout
    finally:
        proc.terminate()
        proc.wait(30)


def test_checkout_maps_only_the_role_folders(tmp_path: Path) -> None:
    """From a checkout (no install, no site-packages), ``ovserve.frontend|workers|shared`` are the folders beside
    ``ovserve/``; the checkout's other folders (tests, bench) are not part of the package."""
    code = (
        "import importlib, ovserve.shared.errors, ovserve.frontend, ovserve.workers\n"
        "print(ovserve.shared.errors.__file__)\n"
        "for name in ('ovserve.tests', 'ovserve.bench', 'ovserve.deploy'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        print('importable', name)\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {ROOT!r})\n{code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(Path(ROOT) / "shared" / "errors.py")], run.stdout
