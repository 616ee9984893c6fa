"""The pure pieces the benchmarks' honesty rests on: kcat framing, percentiles, target verdicts."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.core import Figure, Target
from bench.latency import percentile, settle
from bench.producer import KEY_DELIM, MSG_DELIM, kcat_file


def test_kcat_file_frames_every_message(tmp_path: Path) -> None:
    data = [(b"k1", b"v\n1\x00"), (b"k2", b"")]
    kcat_file(data, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"k1" + KEY_DELIM + b"v\n1\x00" + MSG_DELIM + b"k2" + KEY_DELIM + MSG_DELIM


@pytest.mark.parametrize("value", [b"x" + MSG_DELIM, KEY_DELIM + b"y"])
def test_kcat_file_refuses_a_payload_holding_a_delimiter(tmp_path: Path, value: bytes) -> None:
    with pytest.raises(RuntimeError, match="delimiter"):
        kcat_file([(b"k", value)], tmp_path / "f")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_targets_judge_ratio_and_value() -> None:
    fast = Figure("b", "f", "events/s", (90.0, 100.0, 80.0), "plain", (100.0, 100.0, 120.0), Target("ratio>=", 0.85))
    assert fast.ratio == pytest.approx(0.9) and fast.met is True
    slow = Figure("b", "p99", "ms", (25.0,), target=Target("value<=", 20.0))
    assert slow.met is False and str(slow.target) == "<= 20"


def test_settle_waits_for_a_backlog_to_be_answered_and_no_longer() -> None:
    """The latency bench's next run starts once the last run's RFQs are answered (or at the cap)."""
    answers = SimpleNamespace(answered={"a": (0.0, "quote")})
    assert settle(answers, ["a"], timeout_s=5) == 0.0  # nothing pending: no wait
    late = threading.Timer(0.5, lambda: answers.answered.update(b=(0.0, "quote")))
    late.start()
    waited = settle(answers, ["a", "b"], timeout_s=5)
    assert 0.4 <= waited < 5
    started = time.time()
    assert settle(answers, ["never"], timeout_s=0.5) >= 0.5 and time.time() - started < 2
