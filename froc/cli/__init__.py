"""The `froc` command line: a thin shell over the Python API (one call per command).

Each command imports its module lazily so `froc --help` stays fast. Commands live in one module per
area (data, model, sweep, bench) and register themselves on :data:`froc.cli.app.app`.
"""

from __future__ import annotations

# registration order is the order of `froc --help`
from froc.cli import data_cmds  # noqa: F401, I001
from froc.cli import model_cmds  # noqa: F401
from froc.cli import sweep_cmds  # noqa: F401
from froc.cli import bench_cmds  # noqa: F401
from froc.cli.app import app, reflow_all_help

reflow_all_help(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
