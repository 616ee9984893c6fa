"""otcdesk: a crypto OTC desk as a Kafka streaming pipeline (core package shared by every stage)."""

__version__ = "0.1.0"
