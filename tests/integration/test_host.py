"""Several stages in one worker process (streams/host.py) on the real broker.

Each hosted stage joins its own consumer group, and a crash of one stage's app ends the whole
process with a non-zero status, so its supervisor restarts every stage it hosts.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from otcdesk.kafka import admin_client
from otcdesk.settings import Settings
from tests.integration.desk import env_of, namespace

pytestmark = pytest.mark.integration

HOSTED = ("settlement", "recon")
#: hosts the two stages; once both groups are stable, crashes the second stage's app
SCRIPT = """
import asyncio, sys
from streams import build_stage
from streams.host import host

stages = [build_stage(name) for name in sys.argv[1:]]
victim = stages[-1]

async def crash_when_told() -> None:
    while not __import__("os").path.exists(sys.argv[0] + ".crash"):
        await asyncio.sleep(0.1)
    await victim.app.crash(RuntimeError("a stage's processing loop failed"))

victim._task("crash", crash_when_told)
host(stages, "info")
"""


def _stable_groups(settings: Settings) -> set[str]:
    admin = admin_client(settings)
    wanted = [settings.group(stage) for stage in HOSTED]
    described = admin.describe_consumer_groups(wanted)
    stable = set()
    for group, future in described.items():
        try:
            if str(future.result(10).state).endswith("STABLE") and future.result(10).members:
                stable.add(group)
        except Exception:  # noqa: BLE001 - not there yet
            continue
    return stable


def test_two_stages_in_one_process_keep_their_own_groups_and_crash_together(stack: Settings, tmp_path: Path) -> None:
    script = tmp_path / "host_two.py"
    script.write_text(SCRIPT)
    with namespace(stack) as settings:
        log = open(tmp_path / "host.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, str(script), *HOSTED],
            env=env_of(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            deadline = time.monotonic() + 90
            groups = {settings.group(stage) for stage in HOSTED}
            while _stable_groups(settings) != groups:
                assert proc.poll() is None, (tmp_path / "host.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"groups not stable: {(tmp_path / 'host.log').read_text()[-3000:]}"
                time.sleep(1)
            (tmp_path / "host_two.py.crash").touch()
            returncode = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    output = (tmp_path / "host.log").read_text()
    assert returncode != 0, output[-3000:]
    assert "a stage's processing loop failed" in output
