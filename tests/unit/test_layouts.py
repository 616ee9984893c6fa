"""Layouts place every stage in exactly one process; the supervisor starts one child per process."""

from __future__ import annotations

from typing import get_args

import pytest

from otcdesk.errors import UserError
from otcdesk.settings import Layout, Settings
from otcdesk.supervisor import desk_children
from streams import LAYOUTS, STAGES, stage_processes


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_hosts_every_stage_once(layout: str) -> None:
    hosted = [stage for group in LAYOUTS[layout].values() for stage in group]
    assert sorted(hosted) == sorted(STAGES)


def test_offices_layout_runs_the_desk_in_two_stage_processes_beside_feed_and_sink() -> None:
    children = desk_children(STAGES, with_feed=True, with_sink=True, layout="offices")
    assert [c.name for c in children] == ["feed", "front-office", "back-office", "sink"]
    front = children[1]
    assert front.args == ("stage", "run", "aggregator", "quote-engine", "acceptance", "client-sim")
    assert front.stages == ("aggregator", "quote-engine", "acceptance", "client-sim")


def test_per_stage_layout_is_one_child_per_stage() -> None:
    children = desk_children(STAGES, with_feed=False, with_sink=False, layout="per-stage")
    assert [(c.name, c.args, c.stages) for c in children] == [(s, ("stage", "run", s), (s,)) for s in STAGES]


def test_a_subset_of_stages_keeps_only_the_processes_that_host_some() -> None:
    assert stage_processes("offices", ["recon", "hedger"]) == {"back-office": ("hedger", "recon")}


def test_an_unknown_layout_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown layout"):
        stage_processes("one-big-process")


def test_the_settings_name_every_layout_and_no_other() -> None:
    assert set(get_args(Layout)) == set(LAYOUTS)
    assert Settings().layout in LAYOUTS
