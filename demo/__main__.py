"""``make demo`` / ``python -m demo``: a month in the demo park, then its summary.

Exit codes: 0 the month played and every check held; 1 a check failed (the summary says
which); 2 the park did not answer in time or a step failed (the message and the services'
log tails say where); 3 the broker or its management API is not reachable.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from demo.scenario import MonthInThePark, local
from demo.summary import gather, problems, render
from demo.world import SERVICES, DemoFailed, Settings, running_world
from shared.messaging.management import ManagementUnavailable

app = typer.Typer(add_completion=False)
console = Console()


@app.command()
def main(
    size: Annotated[str, typer.Option(help="small (CI: 4 enterprises) or full (10)")] = "full",
    keep: Annotated[
        bool, typer.Option(help="keep the park-demo vhost afterwards, to look at it")
    ] = False,
    summary_json: Annotated[
        Path | None, typer.Option("--json", help="also write the summary here")
    ] = None,
    vhost: Annotated[str, typer.Option(help="the broker vhost the demo makes and uses")] = (
        Settings.vhost
    ),
    work_dir: Annotated[
        Path, typer.Option(help="its databases, clock, logs and firm stores (emptied first)")
    ] = Settings.work_dir,
) -> None:
    """Seed the demo park (DESIGN §8), play a month in it through the real ingress events
    and services, and print what a park manager wants to see."""
    if size not in ("small", "full"):
        raise typer.BadParameter("small or full", param_hint="--size")
    say = console.print
    settings = Settings(vhost=vhost, work_dir=work_dir)
    started = date(2026, 11, 2)
    try:
        with running_world(settings, local(started, 9), keep=keep, say=say) as world:
            say(f"[bold]A month in the park[/] ({size}), from {started}:")
            month_play = MonthInThePark(world, size, say=say)
            try:
                month = month_play.play()
                summary = gather(world, month)
            except DemoFailed as failure:
                say(f"[red]the demo stopped:[/] {failure}")
                for service in SERVICES:
                    say(f"--- {service} log (tail)\n{world.log_tail(service)}")
                raise typer.Exit(2) from None
    except ManagementUnavailable as error:
        say(f"[red]{error}[/]")
        raise typer.Exit(3) from None
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    render(summary, console)
    failed = problems(summary, month)
    if failed:
        say("[red]the month did not do what it should:[/] " + "; ".join(failed))
        raise typer.Exit(1)
    say("[green]every check of the month held[/]")


if __name__ == "__main__":
    app()
