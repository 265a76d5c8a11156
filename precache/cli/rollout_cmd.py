"""``precache rollout`` and ``precache keep-warm``: a policy file reconciled against the image
cache inventory through Nova (docs/rollout.md).

rollout exit statuses: 0 every target ready, 1 some target failed its gate after the retries
(or its --then failed), 2 not done within --timeout, 3 bad policy, unknown aggregate or image,
Nova refused or unreachable, the worker unreachable (one line on stderr).
"""

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from precache.cli.errors import one_line_errors
from precache.config import build_settings

if TYPE_CHECKING:
    from precache.rollout.loop import Reconciler
    from precache.rollout.planner import Mode

POLICY = typer.Argument(..., metavar="POLICY", help="the policy file (TOML, docs/rollout.md)")
DRY_RUN = typer.Option(False, "--dry-run", help="print the plan with its reasons; ask nothing")
WORKER = typer.Option(
    None, metavar="URL", help="a worker's HTTP view [default: PRECACHE_WORKER_URL]"
)
JSON = typer.Option(False, "--json", help="one JSON object per change, per line")


def _reconciler(
    policy_file: Path,
    mode: "Mode",
    json_lines: bool,
    then: str | None,
    worker: str | None,
    dry_run: bool,
) -> "Reconciler":
    from precache.rollout.events import EventSink
    from precache.rollout.loop import Reconciler  # openstacksdk loads slowly
    from precache.rollout.nova_side import Fleet
    from precache.rollout.policy import load_policy
    from precache.rollout.report import JsonReporter, Reporter, TextReporter
    from precache.rollout.settings import RolloutSettings

    policy = load_policy(policy_file)
    settings = build_settings(RolloutSettings, worker_url=worker)
    reporter: Reporter = JsonReporter() if json_lines else TextReporter(live=sys.stdout.isatty())
    fleet = Fleet(policy, settings.connect_timeout_s)
    events = None if dry_run else EventSink(settings).start()
    return Reconciler(policy, mode, settings, fleet, reporter, then, events)


@one_line_errors
def rollout(
    policy: Path = POLICY,
    dry_run: bool = DRY_RUN,
    json_lines: bool = JSON,
    then: str | None = typer.Option(
        None, metavar="CMD", help="shell command run once per target as it becomes ready"
    ),
    timeout: float | None = typer.Option(
        None, min=0.001, metavar="SECONDS", help="exit 2 unless every target is done by then"
    ),
    worker: str | None = WORKER,
) -> None:
    """Converge once: cache the policy's images on its aggregates until every gate holds.

    Exit status: 0 every target ready, 1 some failed their gate after retries, 2 timeout,
    3 bad policy, unknown aggregate or image, Nova refused or unreachable.
    """
    from precache.rollout.loop import rollout as run

    rec = _reconciler(policy, "rollout", json_lines, then, worker, dry_run)
    try:
        status = run(rec, timeout, dry_run)
    except KeyboardInterrupt:
        typer.echo("rollout: interrupted; operations already accepted go on in Nova", err=True)
        status = 130
    finally:
        rec.close()
    raise typer.Exit(status)


@one_line_errors
def keep_warm(
    policy: Path = POLICY,
    dry_run: bool = DRY_RUN,
    json_lines: bool = JSON,
    worker: str | None = WORKER,
) -> None:
    """Keep the policy's images cached, forever: re-request before they expire, cache them on
    hosts that joined; back off while Nova is unreachable. SIGTERM or SIGINT stops it.

    Exit status: 0 stopped, 3 bad policy, unknown aggregate or image.
    """
    from precache.rollout.loop import keep_warm as run

    rec = _reconciler(policy, "keep-warm", json_lines, None, worker, dry_run)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        raise typer.Exit(run(rec, stop, dry_run))
    finally:
        rec.close()
