"""One worker process hosting one or more desk stages, each still its own faust app.

A stage is a faust app whose id is its consumer group (`otcdesk-<stage>`), so lag, restarts and
scaling by partitions stay per stage whatever process it runs in. faust's worker starts one app
and any other services beside it; here the other stages' apps are those services, all on one
event loop. Every stage keeps its own consumers, producer, timers and watermark; they share the
process's CPU, which on a machine with few cores costs less than a process per stage (each with
its own interpreter, fetchers, heartbeats and context switches).

A stage whose processing loop fails crashes its app, and a crashed service stops the worker: the
whole process exits non-zero and its supervisor restarts every stage it hosts, each of which
rebuilds its state from its topics (streams/stage.py).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import NoReturn

from streams.app import DeskWorker
from streams.stage import Stage


def host(stages: Sequence[Stage], loglevel: str = "warn") -> NoReturn:
    """Run `stages` in this process until interrupted (exits with the worker's status)."""
    if not stages:
        raise ValueError("no stage to run")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"a stage named twice: {names}")
    apps = [stage.app for stage in stages]
    for app in apps:  # what `faust worker` does for its one app before it starts it
        app.finalize()
        app.worker_init()
        app.worker_init_post_autodiscover()
    first, *others = apps
    gc.freeze()  # the imports and the apps live as long as the process: no collection scans them again
    worker = DeskWorker(first, *others, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
    raise SystemExit(1)  # not reached: the worker exits the process
