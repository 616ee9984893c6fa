"""How a chaos test hands its figures to whoever re-measures the table of docs/reliability.md:
one line on stdout (`pytest -s`) and `<state_dir>/chaos/<scenario>.json` (the last run wins)."""

from __future__ import annotations

from otcdesk.chaos.figures import Figures
from otcdesk.settings import Settings


def record(figures: Figures, settings: Settings) -> None:
    path = figures.save(settings.state_dir)
    print(f"\nchaos figures: {figures.line()} ({path})")
    assert figures.lost == 0 and figures.duplicated == 0, figures.as_json()
