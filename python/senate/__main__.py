"""`python -m senate` runs the `senate` command."""

from senate.cli import main

main()
