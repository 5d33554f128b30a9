"""`python -m froc.cli ...`."""

from froc.cli import main

main()
