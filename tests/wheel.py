"""Build the desk's wheel the way the Dockerfile does, for the tests that check what it ships.

The wheel is built from a copy of exactly the paths the Dockerfile's build stage copies, in a
temporary directory: what the image would get, nothing the checkout happens to hold besides
(setuptools' `build/` of an earlier in-place build, caches), and no write into the shared tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
#: What the wheel's code reads at run time through otcdesk.resources (relative to the checkout).
SHIPPED_DIRS = ("otcdesk/schemas", "otcdesk/venues/recorded")
#: The packages of [tool.setuptools.packages.find] in pyproject.toml.
PACKAGES = ("otcdesk", "streams", "producers", "consumers")


@dataclass(frozen=True)
class DockerStage:
    name: str
    instructions: tuple[tuple[str, str], ...]  # (INSTRUCTION, arguments), continuation lines joined

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def docker_stages(path: Path = DOCKERFILE) -> list[DockerStage]:
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[DockerStage] = []
    current: list[tuple[str, str]] = []
    name = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            if current:
                stages.append(DockerStage(name, tuple(current)))
            match = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
            name, current = (match.group(1) if match else ""), []
        current.append((instruction.upper(), args.strip()))
    stages.append(DockerStage(name, tuple(current)))
    return stages


def build_stage_sources(path: Path = DOCKERFILE) -> list[str]:
    """The checkout paths the Dockerfile's first stage copies (`COPY src... dest`)."""
    sources: list[str] = []
    for args in docker_stages(path)[0].args("COPY"):
        parts = args.split()
        assert not parts[0].startswith("--"), f"build stage COPY with a flag: {args}"
        sources += parts[:-1]
    return sources


def build_wheel(out: Path) -> Path:
    """Copy the build stage's sources under `out/src`, `pip wheel` them into `out`; the wheel."""
    src = out / "src"
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in build_stage_sources():
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=ignore)
        else:
            shutil.copy2(source, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"pip wheel exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    wheels = sorted(out.glob("otcdesk-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if not n.endswith("/")}


def checkout_files(*tops: str) -> set[str]:
    """Files under these checkout folders, relative to the checkout (no caches)."""
    return {
        p.relative_to(ROOT).as_posix()
        for top in tops
        for p in (ROOT / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
