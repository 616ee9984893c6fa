"""`otcdesk web`: the desk in a browser (docs/web.md).

One Starlette app: the RFQ ticket (the CLI's RFQ and quote paths), a live blotter fed by one Kafka
consumer in the process and fanned out to every browser over server-sent events, the lag of the
desk's consumer groups and the analytics reports. Static files are package data.
"""
