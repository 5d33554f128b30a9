"""`froc bench`: the performance benchmark suite."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from froc.cli.app import _fail, app, data_app, model_app  # noqa: F401  (the shared app)


# ---- benchmark commands (froc bench) ----


@app.command("bench")
def bench_cmd(
    names: Optional[List[str]] = typer.Argument(None, help="Benchmarks to run (default all): unlearn_step, "
                                                           "utilisation, scoring, sweep, scaling, model_load, gpu."),
    tiny: bool = typer.Option(False, "--tiny", help="Seconds-long runs on the tiniest models (smoke test)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for NAME.json (default benchmarks/results)."),
) -> None:
    """Run the performance benchmark suite (side-by-side ratios; needs a source checkout with benchmarks/).

    Examples:
      froc bench
      froc bench unlearn_step scoring --tiny --out /tmp/bench
    """
    import sys

    from froc.errors import ConfigError, FrocError

    root = Path(__file__).resolve().parents[2]
    if (root / "benchmarks" / "suite.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from benchmarks.suite import run

        code = run(names, tiny=tiny, out=out)
    except ImportError as e:
        _fail(ConfigError(f"froc bench needs a source checkout with the benchmarks/ folder next to froc/ ({e})"))
    except (FrocError, OSError) as e:
        _fail(e)
    raise typer.Exit(code=code)
