"""Chaos scenarios (docs/reliability.md) run on the same real stack as the integration tests, with the same
fixtures: a missing component fails the run under CI and says what to install."""

from tests.integration.conftest import scram_broker, server, stack  # noqa: F401 - pytest fixtures
