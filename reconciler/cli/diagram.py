"""``sepm-reconciler diagram``: the procedure's state machine as Mermaid, generated from the transition table."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_OK
from reconciler.core.procedure import mermaid


@click.command()
@click.option("--markdown", is_flag=True, help="Wrap the diagram in a ```mermaid fenced block.")
def diagram(markdown: bool) -> int:
    """Print the rollout state machine as a Mermaid stateDiagram-v2.

    The diagram is generated from the same table the reconciler enforces, so it is never out of date;
    docs/procedure.md embeds it (a test fails when the copy there is stale).

    \b
    Example:
      sepm-reconciler diagram --markdown > procedure-diagram.md

    Exit code 0.
    """
    text = mermaid()
    click.echo(f"```mermaid\n{text}```" if markdown else text, nl=False)
    if markdown:
        click.echo()
    return EXIT_OK
