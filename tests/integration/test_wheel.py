"""The wheel, installed outside the checkout, runs the desk on the real stack.

The wheel is built as the Dockerfile builds it (tests/wheel.py) and installed with `pip install
--no-deps` into a fresh venv in a temporary directory. Its dependencies come from the project's
.venv through one .pth file in the new venv that lists only the .venv's site-packages directory:
a directory named in a .pth file is put on sys.path but its own .pth files are not run, so the
editable install's finder (`__editable__.otcdesk-*.pth` there) never loads, and the new venv's
site-packages comes first anyway; the test checks both. Installing the wheel with its
dependencies from the package index instead took 142 s on the 2-core dev machine (and needs the
index), the .pth way a few seconds: that decides it.

From a working directory outside the checkout, the installed `otcdesk` then checks the Avro
contract, runs `init` (topics in a namespace of this test, the ClickHouse migrations: already
applied on the stack, so this also proves the shipped SQL has the recorded checksums) and a
short seeded `simulate`, whose nine processes run the installed package too (the supervisor
starts them with the venv's interpreter). The stack's addresses and password come from its state
directory (`OTCDESK_STATE_DIR`, its stack.json), as for any client of a local stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import pytest

from otcdesk.settings import Settings
from otcdesk.topics import delete_namespace
from tests.wheel import ROOT, build_wheel

pytestmark = pytest.mark.integration


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _installed_venv(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A fresh venv holding the wheel, with the .venv's site-packages for its dependencies."""
    timings: dict[str, float] = {}
    start = time.monotonic()
    wheel = build_wheel(tmp_path / "wheel")
    timings["wheel_s"] = time.monotonic() - start
    start = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = Path(sysconfig.get_paths()["purelib"])  # the interpreter running the tests: the project's .venv
    assert (deps / "fastavro").is_dir() and not deps.resolve().is_relative_to(venv.resolve()), deps
    (Path(purelib) / "otcdesk-test-deps.pth").write_text(f"{deps}\n")
    timings["install_s"] = time.monotonic() - start
    return venv, timings


def test_the_installed_wheel_checks_schemas_inits_and_simulates(stack: Settings, tmp_path: Path) -> None:
    venv, timings = _installed_venv(tmp_path)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        OTCDESK_STACK=stack.stack,
        OTCDESK_STATE_DIR=str(stack.state_dir),
        OTCDESK_NAMESPACE=namespace,
        KAFKA_BOOTSTRAP=stack.bootstrap,
        CLICKHOUSE_URL=stack.clickhouse_url,
    )
    otcdesk = str(venv / "bin" / "otcdesk")

    where = json.loads(
        _run(
            [
                str(venv / "bin" / "python"),
                "-c",
                (
                    "import json, sys, otcdesk, otcdesk.serde as s\n"
                    "print(json.dumps({'package': otcdesk.__file__, 'schemas': str(s.SCHEMA_ROOT), 'path': sys.path,\n"
                    "                  'editable': sorted(m for m in sys.modules if 'editable' in m)}))"
                ),
            ],
            cwd=workdir,
            env=env,
        ).stdout
    )
    site = Path(where["package"]).resolve().parent.parent
    assert site.is_relative_to(venv.resolve()) and Path(where["schemas"]).is_relative_to(site), where
    assert where["editable"] == [], where
    assert not any(p and Path(p).resolve() == ROOT for p in where["path"]), where["path"]

    try:
        start = time.monotonic()
        checked = _run([otcdesk, "schemas", "check"], cwd=workdir, env=env)
        assert "version pairs checked" in checked.stdout, checked.stdout
        timings["schemas_check_s"] = time.monotonic() - start

        start = time.monotonic()
        init = _run([otcdesk, "init"], cwd=workdir, env=env)
        assert "topics:" in init.stdout and "clickhouse: database" in init.stdout, init.stdout
        timings["init_s"] = time.monotonic() - start

        start = time.monotonic()
        done = _run(
            [
                otcdesk,
                "simulate",
                "--rfqs",
                "5",
                "--seed",
                "3",
                "--rate",
                "0.05",
                "--timeout",
                "600",
                "--namespace",
                namespace,
                "--json",
            ],
            cwd=workdir,
            env=env,
            timeout=700,
        )
        timings["simulate_s"] = time.monotonic() - start
    finally:
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    summary = json.loads(done.stdout)
    assert summary["complete"] and summary["answered"] == summary["rfqs"] == 5, summary
    assert summary["quotes"] >= summary["deals"], summary
    print("timings:", {k: round(v, 1) for k, v in timings.items()})
