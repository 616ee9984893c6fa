"""The `otcdesk` command line: `otcdesk <noun> <verb>`, Typer + rich, `--json` on read commands."""
