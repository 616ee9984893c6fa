"""ClickHouse as a plain process of Debian's `clickhouse-server` with a project-local config.

Not the system service: the stack must work without systemd, keep its data under the state
directory and never touch /etc or /var/lib/clickhouse of the machine.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template

from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.errors import StackError
from otcdesk.stack.clickhouse_access import ServerAccess, thread_stack_bytes

INSTALL_HINT = "run infra/install.sh (or apt-get install clickhouse-server clickhouse-client)"
DATABASE = "otcdesk"
READONLY_USER = "otcdesk_ro"


@dataclass(frozen=True)
class ClickHouseLayout:
    """Where one local server keeps its files, all under the stack's state directory."""

    state_dir: Path
    repo_root: Path

    @property
    def home(self) -> Path:
        return self.state_dir / "clickhouse"

    @property
    def etc(self) -> Path:
        return self.home / "etc"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def config(self) -> Path:
        return self.etc / "config.xml"

    @property
    def users(self) -> Path:
        return self.etc / "users.xml"

    @property
    def templates(self) -> Path:
        return self.repo_root / "infra" / "clickhouse"


def render_config(layout: ClickHouseLayout, tcp_port: int, http_port: int) -> str:
    template = Template((layout.templates / "config.xml.tmpl").read_text())
    return template.substitute(
        logs=layout.logs, data=layout.data, etc=layout.etc, tcp_port=tcp_port, http_port=http_port
    )


def render_users(layout: ClickHouseLayout, access: ServerAccess) -> str:
    return Template((layout.templates / "users.xml.tmpl").read_text()).substitute(access.template_values())


def write_configs(layout: ClickHouseLayout, tcp_port: int, http_port: int, access: ServerAccess) -> None:
    """(Re)generate config.xml and users.xml: ports may differ from the last run."""
    for directory in (layout.etc, layout.data, layout.logs):
        directory.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(render_config(layout, tcp_port, http_port))
    write_users(layout, access)


def write_users(layout: ClickHouseLayout, access: ServerAccess) -> bool:
    """Write users.xml (owner-only) if it differs; True when it changed. A running server reloads
    it by itself within seconds (passwords and profiles; the thread stack needs a restart)."""
    text = render_users(layout, access)
    if layout.users.exists() and layout.users.read_text() == text:
        return False
    tmp = layout.users.with_suffix(".xml.tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(text)
    os.replace(tmp, layout.users)
    return True


def find_server() -> list[str]:
    """Debian's 18.16 ships /usr/sbin/clickhouse-server (not on a normal user's PATH); newer
    packages ship one `clickhouse` binary with a `server` sub-command."""
    for name in ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"):
        found = shutil.which(name)
        if found:
            return [found]
    single = shutil.which("clickhouse")
    if single:
        return [single, "server"]
    raise StackError(f"clickhouse-server not found: {INSTALL_HINT}")


def server_command(layout: ClickHouseLayout, limits: ReadOnlyLimits) -> list[str]:
    """The config path in the command line is the marker that identifies this server as ours. A
    shell sets the stack limit its threads get (see clickhouse_access) and execs the server."""
    stack_kib = thread_stack_bytes(limits) // 1024
    return [
        "/bin/sh",
        "-c",
        f'ulimit -s {stack_kib} && exec "$@"',
        "clickhouse-server",
        *find_server(),
        f"--config-file={layout.config}",
    ]


def thread_stack_of(pid: int) -> int | None:
    """The soft stack limit of a running process (bytes; None where /proc cannot tell)."""
    try:
        lines = Path(f"/proc/{pid}/limits").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("Max stack size"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None
