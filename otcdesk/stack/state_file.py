"""A stack's state file (`stack.json`): addresses, ports, pids and the ClickHouse admin password.

It holds a secret, so it is readable by its owner only (mode 0600), and replaced atomically:
a client reading it never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MODE = 0o600


def read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def write(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.unlink(missing_ok=True)  # a leftover from a crash may have another mode
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE), "w") as fh:
        fh.write(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
