# The README's two commands are `make demo` and `make test`; both install what is missing first.
.PHONY: install demo lint test test-unit stack-up stack-down stack-status bench

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
