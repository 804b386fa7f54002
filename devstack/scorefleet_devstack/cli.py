"""`scorefleet` command line: `scorefleet devstack setup|up|down|status|env`.

The shell around `stack` and `builds`: parses settings once, prints progress, turns StackError and
BuildError into a message and exit status 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import builds, stack
from .config import StackSettings
from .processes import StackError

app = typer.Typer(help="scorefleet: a Kafka-lag-scaled ML scoring fleet on Kubernetes.", no_args_is_help=True)
devstack_app = typer.Typer(help="The local real stack: Kubernetes control plane, Kafka, Prometheus, node agent.",
                           no_args_is_help=True)
app.add_typer(devstack_app, name="devstack")
console = Console(highlight=False)


def _say_with_clock(started: float) -> Callable[[str], None]:
    def say(line: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:7.1f}s[/dim] {line}")
    return say


@devstack_app.command()
def setup() -> None:
    """Fetch or build every binary the stack runs (cached under ~/.cache/scorefleet)."""
    try:
        builds.ensure_all(StackSettings(), say=_say_with_clock(time.monotonic()))
    except builds.BuildError as exc:
        console.print(f"[red]setup failed:[/red] {exc}")
        raise typer.Exit(1) from exc


SkipOption = Annotated[list[str] | None, typer.Option(
    "--skip", help=f"A component not to start (one of: {', '.join(stack.ORDER)}); repeatable.")]
KeepStateOption = Annotated[bool, typer.Option("--keep-state", help="Keep data, certificates and logs.")]


@devstack_app.command()
def up(skip: SkipOption = None) -> None:
    """Start the stack (idempotent): builds what is missing, starts each component, waits for readiness."""
    settings = StackSettings()
    skipped = frozenset(skip or ())
    unknown = skipped - set(stack.ORDER)
    if unknown:
        console.print(f"[red]unknown component(s):[/red] {', '.join(sorted(unknown))}; "
                      f"choose from {', '.join(stack.ORDER)}")
        raise typer.Exit(2)
    try:
        stack.up(settings, skip=skipped, say=_say_with_clock(time.monotonic()))
    except (StackError, builds.BuildError) as exc:
        console.print(f"[red]up failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo("\n".join(stack.env_lines(settings)))


@devstack_app.command()
def down(keep_state: KeepStateOption = False) -> None:
    """Stop every process the stack started and remove its state."""
    stack.down(StackSettings(), keep_state=keep_state, say=_say_with_clock(time.monotonic()))


@devstack_app.command()
def status() -> None:
    """Show each component: pid, listening address, log file. Exit 1 when any is down."""
    table = Table("component", "pid", "listening", "log")
    rows = stack.status(StackSettings())
    for row in rows:
        table.add_row(row.name, str(row.pid) if row.pid else "[red]down[/red]", row.listening, str(row.log))
    console.print(table)
    if any(row.pid is None for row in rows):
        raise typer.Exit(1)


@devstack_app.command()
def env() -> None:
    """Print `export` lines for KUBECONFIG, KAFKA_BOOTSTRAP_SERVERS, PROMETHEUS_URL, MODEL_STORE_URL, PATH."""
    typer.echo("\n".join(stack.env_lines(StackSettings())))


@app.command()
def demo() -> None:
    """The whole pipeline end to end on the dev stack: chart, topics, model, a pipeline, a stream and
    a burst, live replicas/lag/rate, then a summary and a plot. Leaves the stack up."""
    from . import demo as demo_run

    settings = StackSettings()
    say = _say_with_clock(time.monotonic())
    try:
        endpoints = stack.up(settings, say=say)
    except (StackError, builds.BuildError) as exc:
        console.print(f"[red]up failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    raise typer.Exit(demo_run.run_demo(settings, endpoints, demo_run.DemoPlan(), say=say,
                                       live=console.is_terminal))
