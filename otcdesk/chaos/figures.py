"""What a scenario measured, in the shape of the table in docs/reliability.md.

Every run also writes its figures to `<state_dir>/chaos/<scenario>.json` (the last run wins), so
whoever re-runs `make test` or `otcdesk chaos ...` reads the numbers for the table from there
instead of from scrolled-away output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figures:
    scenario: str
    runs: int = 1
    faults: int = 0  # faults injected (kills, outages, malformed messages)
    processed: int = 0  # events the scenario checked end to end
    lost: int = 0
    duplicated: int = 0  # visible duplicates (FINAL rows, outcomes, dead letters), not raw merge copies
    recover_s: list[float] = field(default_factory=list)  # per fault: until the flow moved again
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def line(self) -> str:
        worst = f"{max(self.recover_s):.1f}" if self.recover_s else "-"
        return (
            f"{self.scenario}: runs {self.runs}, faults {self.faults}, processed {self.processed}, "
            f"lost {self.lost}, duplicated {self.duplicated}, worst recovery {worst} s"
        )

    def as_json(self) -> dict[str, object]:
        return asdict(self) | {"recover_s": [round(s, 1) for s in self.recover_s]}

    def save(self, state_dir: Path) -> Path:
        path = state_dir / "chaos" / f"{self.scenario}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True, default=str) + "\n")
        return path
