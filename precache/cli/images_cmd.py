"""``precache images``: which image is cached on which host until when, and the rollout gate.

Exit statuses: 0 listed (or the gate passed), 1 the gate failed (the hosts that fall short are
listed), 3 bad arguments or the worker could not be reached (one line on stderr).
"""

from datetime import UTC, datetime, timedelta

import typer

from precache.cli.errors import one_line_errors
from precache.config import build_settings
from precache.errors import ConfigError
from precache.images import args, client, report
from precache.images.settings import ImagesSettings
from precache.pipeline.inventory import gate


@one_line_errors
def images(
    image: str | None = typer.Argument(None, metavar="[IMAGE]", help="one image id"),
    aggregate: str | None = typer.Option(
        None, metavar="NAME", help="only the hosts of this aggregate (name or uuid)"
    ),
    region: str | None = typer.Option(None, metavar="R", help="only this region"),
    expiring_within: str | None = typer.Option(
        None, metavar="DURATION", help="only hosts whose copy expires within DURATION (6h, 1d)"
    ),
    json_lines: bool = typer.Option(False, "--json", help="one JSON object per host and line"),
    require: str | None = typer.Option(
        None, metavar="PERCENT", help="gate: exit 1 unless this share of the aggregate holds IMAGE"
    ),
    valid_for: str | None = typer.Option(
        None, metavar="DURATION", help="gate: ... and will still hold it after DURATION"
    ),
    worker: str | None = typer.Option(
        None, metavar="URL", help="a worker's HTTP view [default: PRECACHE_WORKER_URL]"
    ),
) -> None:
    """List the image cache inventory, or gate a rollout on it (--require).

    Exit status: 0 listed or the gate passed, 1 the gate failed, 3 bad arguments or the worker
    could not be reached.
    """
    settings = build_settings(ImagesSettings, worker_url=worker)
    if require is not None or valid_for is not None:
        raise typer.Exit(run_gate(settings, image, aggregate, region, require, valid_for))
    within = args.duration(expiring_within, "--expiring-within") if expiring_within else None
    detail = json_lines or within is not None or image is not None
    query = {"region": region, "aggregate": aggregate, "hosts": "1" if detail else None}
    path = "/images" if image is None else f"/images/{image}"
    body = client.get(settings, path, **query)
    summaries = body["images"] if body else []
    if not detail:
        for line in report.summary_table(summaries):
            typer.echo(line)
        return
    rows = list(report.rows(summaries))
    if within is not None:
        now = datetime.now(UTC)
        rows = [r for r in rows if report.expiring(r, now, within)]
    lines = report.json_lines(rows) if json_lines else report.row_table(rows)
    for line in lines:
        typer.echo(line)


def run_gate(
    settings: ImagesSettings,
    image: str | None,
    aggregate: str | None,
    region: str | None,
    require: str | None,
    valid_for: str | None,
) -> int:
    if image is None or aggregate is None or require is None:
        raise ConfigError("the gate needs IMAGE, --aggregate NAME and --require PERCENT")
    share = args.share(require)
    period = args.duration(valid_for, "--valid-for") if valid_for else timedelta(0)
    body = client.get(settings, f"/aggregates/{aggregate}", region=region, image=image)
    if body is None:
        raise ConfigError(f"unknown aggregate {aggregate!r}" + (f" in {region}" if region else ""))
    regions = sorted({a["region"] for a in body["aggregates"]})
    if len(regions) > 1:
        raise ConfigError(
            f"aggregate {aggregate!r} exists in regions {', '.join(regions)}: choose with --region"
        )
    if len(body["aggregates"]) > 1:
        uuids = ", ".join(a["uuid"] for a in body["aggregates"])
        raise ConfigError(f"several aggregates are named {aggregate!r} ({uuids}): give the uuid")
    members = body["aggregates"][0]["hosts"]
    rows = [r for s in body["images"] if s["image"] == image for r in s.get("hosts", [])]
    result = gate(members, rows, share, datetime.now(UTC), period)
    for line in report.gate_lines(result, image, aggregate):
        typer.echo(line)
    return 0 if result.ok else 1
