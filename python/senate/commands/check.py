"""`senate check`: checks a recorded history for linearizability (docs/check.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from senate.check import (
    DEFAULT_MAX_STEPS_PER_PART,
    MAX_CHECK_THREADS,
    MAX_STEPS_PER_PART,
    CheckIllegal,
    CheckResult,
    CheckUnknown,
    History,
    HistoryError,
    check,
    describe,
    load_history,
)
from senate.check_report import write_html

#: Exit statuses: linearizable; not linearizable; out of budget or unreadable input.
EXIT_OK, EXIT_ILLEGAL, EXIT_UNKNOWN_OR_BAD_INPUT = 0, 1, 2
#: Operations of the prefix printed before the one that cannot be placed.
PRINTED_PREFIX_OPS = 5


def _print_result(history: History, result: CheckResult) -> None:
    outcomes = Counter(op.outcome for op in history.operations)
    by_outcome = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items()))
    click.echo(
        f"{len(history.operations)} operations ({by_outcome or 'none'}) on {result.parts} keys, "
        f"{len(history.events)} events; {result.steps} search steps"
    )
    if isinstance(result, CheckIllegal):
        by_id = {op.id: op for op in history.operations}
        op = by_id[result.blocked]
        where = f"key {result.key!r}: op {op.id} (client {op.client_id})"
        click.echo(f"illegal: {where} cannot be placed:")
        click.echo(f"  {describe(op)}")
        shown = result.prefix[-PRINTED_PREFIX_OPS:]
        click.echo(
            f"after the longest linearizable prefix ({len(result.prefix)} operations, "
            f"state {result.state}), ending:"
        )
        for op_id in shown:
            click.echo(f"  op {op_id}: {describe(by_id[op_id])}")
    elif isinstance(result, CheckUnknown):
        click.echo(f"unknown: the search ran out of budget on keys {', '.join(result.keys)}")
        click.echo("  (raise --max-steps; an unknown result is not a pass)")
    else:
        click.echo("ok: linearizable")


@click.command("check")
@click.argument("history_path", metavar="HISTORY", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write a self-contained HTML report here.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(1, MAX_STEPS_PER_PART),
    default=DEFAULT_MAX_STEPS_PER_PART,
    show_default=True,
    help="Search steps per key before the answer is 'unknown'.",
)
@click.option(
    "--threads",
    type=click.IntRange(0, MAX_CHECK_THREADS),
    default=0,
    show_default=True,
    help="Keys searched at once (0: one per core); the answer does not depend on it.",
)
def check_command(history_path: Path, html_path: Path | None, max_steps: int, threads: int) -> None:
    """Check that HISTORY (a JSON-lines file of operations) is linearizable.

    Exit status: 0 linearizable, 1 not linearizable, 2 unknown (out of budget) or bad input.
    """
    try:
        history = load_history(history_path)
        result = check(history, max_steps_per_part=max_steps, threads=threads)
    except (HistoryError, OSError) as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_UNKNOWN_OR_BAD_INPUT) from None
    _print_result(history, result)
    if html_path is not None:
        write_html(html_path, history, result)
        click.echo(f"report: {html_path}")
    if isinstance(result, CheckIllegal):
        raise SystemExit(EXIT_ILLEGAL)
    if isinstance(result, CheckUnknown):
        raise SystemExit(EXIT_UNKNOWN_OR_BAD_INPUT)
