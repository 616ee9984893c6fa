# The README's two commands are `make demo` and `make test`; both install what is missing first.
.PHONY: install demo lint test test-fast test-unit stack-up stack-down stack-status bench

OTCDESK := .venv/bin/otcdesk

install:
	bash infra/install.sh

demo: install
	bash infra/demo.sh

lint: install
	bash infra/lint.sh

# infra/test.sh runs infra/lint.sh first: CI's `make test` fails on a lint finding.
test: install
	bash infra/test.sh

# No broker, no ClickHouse server, under 2 minutes: lint, then tests/unit and tests/stream without
# the tests that run SQL on chdb (marker `chdb`, tests/conftest.py; test-unit runs those too).
test-fast: install
	bash infra/lint.sh
	.venv/bin/python -m pytest tests/unit tests/stream -q -m "not chdb"

test-unit: install
	.venv/bin/python -m pytest tests/unit -q

stack-up: install
	$(OTCDESK) stack up

stack-down:
	$(OTCDESK) stack down

stack-status:
	$(OTCDESK) stack status

bench: install
	$(OTCDESK) stack up
	.venv/bin/python -m bench
