"""A sync's plan printed, not applied: what ``replay`` and ``preview --calendar`` show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from calsync.cli.output import print_rows
from calsync.services.preview import shown_time

if TYPE_CHECKING:
    from calsync.sync import DryRun

COLUMNS = ("action", "booking_id", "key", "start", "end", "was")


def plan_rows(dry: DryRun) -> list[dict[str, Any]]:
    """One row per action of the plan, by booking: insert, update, delete or hold."""
    plan, existing = dry.plan, dry.existing
    rows: list[dict[str, Any]] = [
        {"action": "insert", "booking_id": None, "key": a.block.key,
         "start": shown_time(a.block.starts_at, all_day=a.block.all_day),
         "end": shown_time(a.block.ends_at, all_day=a.block.all_day), "was": None}
        for a in plan.inserts
    ]  # fmt: skip
    for update in plan.updates:
        old, new = existing[update.booking_id], update.block
        rows.append(
            {"action": "update", "booking_id": str(update.booking_id), "key": new.key,
             "start": shown_time(new.starts_at, all_day=new.all_day),
             "end": shown_time(new.ends_at, all_day=new.all_day),
             "was": f"{old.key} {shown_time(old.starts_at, all_day=old.all_day)} to "
                    f"{shown_time(old.ends_at, all_day=old.all_day)} {old.status}"}
        )  # fmt: skip
    for action, entries in (("delete", plan.deletes), ("hold", plan.holds)):
        for entry in entries:
            old = existing[entry.booking_id]
            rows.append(
                {"action": action, "booking_id": str(entry.booking_id), "key": old.key,
                 "start": shown_time(old.starts_at, all_day=old.all_day),
                 "end": shown_time(old.ends_at, all_day=old.all_day), "was": None}
            )  # fmt: skip
    return rows


def print_plan(dry: DryRun, *, as_json: bool) -> None:
    """The plan as a table (or JSON), then a summary line and the skipped events, on stderr."""
    print_rows(plan_rows(dry), as_json=as_json, columns=COLUMNS)
    plan = dry.plan
    held = f", held because {plan.hold_reason}" if plan.hold_reason else ""
    typer.echo(
        f"{len(plan.inserts)} to insert, {len(plan.updates)} to update, "
        f"{len(plan.deletes)} to delete, {len(plan.holds)} to hold{held}; "
        f"{len(dry.parsed.blocks)} events in the feed; nothing was written",
        err=True,
    )
    for skipped in dry.parsed.skipped:
        typer.echo(f"skipped {skipped.uid}: {skipped.reason}", err=True)
