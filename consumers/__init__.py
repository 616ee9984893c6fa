"""Consumers outside the faust stages: the ClickHouse sink and the lag monitor."""
