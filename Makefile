# The README's two commands are `make demo` and `make test`; both install what is missing first.
.PHONY: install demo test test-unit stack-up stack-down stack-status bench

OTCDESK := .venv/bin/otcdesk

install:
	bash infra/install.sh

demo: install
	bash infra/demo.sh

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
