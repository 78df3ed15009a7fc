"""The subcommands of `senate` (`senate.cli` gathers them), one module each."""
