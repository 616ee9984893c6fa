"""The tests and files docs/architecture.md's walkthroughs name exist: a renamed or removed test
makes the page's "caught by" claim false, a moved file its "touch this" one, so they fail here.
So do the modules and names the whole page gives in dotted form (`otcdesk.client_sim.X`): a
renamed module makes them point nowhere."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
#: `tests/x.py::test_name`, or `x.py::test_name` / `::test_name` continuing the file named last
REFERENCE = re.compile(r"`((?:tests/)?[\w/]*\.py)?::(test_\w+)(?:\[[^\]]*\])?`")
#: a checkout path in backquotes: `otcdesk/events.py`, `tests/unit/frontoffice/`, `docker-compose.yml`
TEMPLATE = re.compile(r"NNNN|/vN\.")  # the example's new files, named by pattern
#: a module or a name in one, in backquotes: `otcdesk.client_sim.SIMULATED_RFQ_SOURCES`
DOTTED = re.compile(r"`((?:otcdesk|streams|producers|consumers)(?:\.\w+)+)")
#: dotted names on the page that are not Python: a logger's name
NOT_PYTHON = {"otcdesk.librdkafka"}
PATH = re.compile(r"`((?:otcdesk|streams|consumers|producers|bench|tests|infra|docs)/[\w/.-]*|docker-compose[\w.]*)`")


def _walkthroughs() -> str:
    text = PAGE.read_text()
    return text[text.index("\n## Add an event field") :]


def named_tests() -> list[tuple[str, str]]:
    """(path under tests/, test name) for every reference, in page order."""
    found, current = [], ""
    for path, name in REFERENCE.findall(_walkthroughs()):
        if path:
            current = path if path.startswith("tests/") else _resolve(path)
        found.append((current, name))
    return found


def _resolve(file_name: str) -> str:
    """A bare `test_x.py` is the one file of that name under tests/."""
    (match,) = list((ROOT / "tests").rglob(file_name))
    return str(match.relative_to(ROOT))


def test_the_walkthroughs_name_tests() -> None:
    assert len(named_tests()) > 20


def test_every_test_the_walkthroughs_name_exists() -> None:
    missing = [
        f"{path}::{name}"
        for path, name in named_tests()
        if not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), flags=re.MULTILINE)
    ]
    assert missing == []


def test_every_file_the_walkthroughs_name_exists() -> None:
    named = [p for p in PATH.findall(_walkthroughs()) if not TEMPLATE.search(p)]
    assert len(named) > 20
    assert [p for p in named if not (ROOT / p).exists()] == []


def _resolves(dotted: str) -> bool:
    """True if the longest importable prefix of `dotted` is a module that holds the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_module_and_name_the_page_gives_exists() -> None:
    named = {n for n in DOTTED.findall(PAGE.read_text()) if n not in NOT_PYTHON}
    assert len(named) > 10
    assert sorted(n for n in named if not _resolves(n)) == []
