"""``python -m benchmarks [NAME...] [--tiny] [--out DIR]``: the whole suite (see benchmarks/suite.py)."""

from benchmarks.suite import main

raise SystemExit(main())
