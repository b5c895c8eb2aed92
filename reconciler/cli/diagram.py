"""``sepm-reconciler diagram``: the procedure's state machine as Mermaid, and its tables, generated from the table."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_OK
from reconciler.core.procedure import (
    codes_table,
    mermaid,
    reference_table,
    summary_table,
    troubleshooting_table,
)

_TABLES = {
    "summary": summary_table,
    "steps": reference_table,
    "codes": codes_table,
    "troubleshooting": troubleshooting_table,
}


@click.command()
@click.option("--markdown", is_flag=True, help="Wrap the diagram in a ```mermaid fenced block.")
@click.option(
    "--table",
    type=click.Choice(sorted(_TABLES)),
    default=None,
    help="Print a Markdown table instead: summary (the README's steps), steps (docs/procedure.md's reference "
    "table), codes (every code a reason can have) or troubleshooting (docs/troubleshooting.md: each code as "
    "symptom, cause, fix).",
)
def diagram(markdown: bool, table: str | None) -> int:
    """Print the rollout state machine as a Mermaid stateDiagram-v2 (or one of its tables).

    The diagram and the tables are generated from the same procedure table the reconciler runs, so they are never
    out of date; the README and docs/procedure.md embed them (a test fails when a copy there is stale).

    \b
    Examples:
      sepm-reconciler diagram --markdown > procedure-diagram.md
      sepm-reconciler diagram --table codes        # the code of every hold, wait, move and stall

    Exit code 0.
    """
    if table is not None:
        click.echo(_TABLES[table](), nl=False)
        return EXIT_OK
    text = mermaid()
    click.echo(f"```mermaid\n{text}```" if markdown else text, nl=False)
    if markdown:
        click.echo()
    return EXIT_OK
