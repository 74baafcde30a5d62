"""Recurrence rules checked before they are expanded, and EXRULE turned into EXDATEs. Pure.

dateutil walks every step of a rule from its DTSTART, even the steps before the
import window, so a rule that needs too many steps (an hourly rule from 1900) is
refused before recurring-ical-events ever sees it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import dateutil.rrule
import icalendar

from calsync.core.ical_values import as_datetime, date_value

#: A rule needing more steps than this from its DTSTART to the end of the window
#: is refused: dateutil walks every step from DTSTART, even those before the window.
MAX_RULE_STEPS = 100_000
_RULE_STEP = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
_RULE_FAN_OUT = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO")


def rule_problem(group: list[icalendar.Component], window_end: datetime) -> str | None:
    """Why the recurrence rules of ``group`` cannot be expanded safely, or None."""
    for event in group:
        for failed, message in getattr(event, "errors", ()):
            if failed in ("RRULE", "EXRULE", "RDATE", "EXDATE", "DTSTART", "RECURRENCE-ID"):
                return f"invalid {failed}: {message}"
        for name in ("RRULE", "EXRULE"):
            rules = event.get(name)
            if rules is None:
                continue
            start = event.get("DTSTART")
            if start is None:
                return "recurring event without DTSTART"
            for rule in rules if isinstance(rules, list) else [rules]:
                problem = _one_rule_problem(name, rule, _naive(start.dt), _naive(window_end))
                if problem:
                    return problem
    return None


def _one_rule_problem(
    name: str, rule: icalendar.vRecur, start: datetime, window_end: datetime
) -> str | None:
    freq = str(_first(rule.get("FREQ"), "")).upper()
    if freq not in _RULE_STEP:
        return f"invalid {name}: unknown FREQ {freq!r}"
    interval = _first(rule.get("INTERVAL"), 1)
    if not isinstance(interval, int) or interval < 1:
        return f"invalid {name}: INTERVAL={interval} (it must be 1 or more)"
    until = _first(rule.get("UNTIL"), None)
    end = min(window_end, _naive(until)) if isinstance(until, date) else window_end
    steps = max(end - start, timedelta()) / (_RULE_STEP[freq] * interval)
    fan_out = 1
    for part in _RULE_FAN_OUT:
        fan_out *= max(len(rule.get(part, ())), 1)
    count = _first(rule.get("COUNT"), None)
    if isinstance(count, int) and fan_out == 1:
        steps = min(steps, count)
    if steps * fan_out > MAX_RULE_STEPS:
        return (
            f"{name} FREQ={freq} from {start:%Y-%m-%d} needs about {int(steps * fan_out)} "
            f"steps to reach the import window (limit {MAX_RULE_STEPS})"
        )
    return None


def exclude_exrules(event: icalendar.Component, first: datetime, last: datetime) -> None:
    """Add the starts that the event's EXRULEs generate from ``first`` to ``last`` as EXDATEs.

    recurring-ical-events ignores EXRULE (RFC 2445; RFC 5545 dropped it, feeds
    still send it); dateutil expands it as RFC 2445 says: from DTSTART, which it
    excludes only if the rule generates it.
    """
    rules = event.get("EXRULE")
    start = date_value(event, "DTSTART")
    if rules is None or not isinstance(start, date):
        return
    anchor = as_datetime(start)
    excluded: list[datetime] = []
    for rule in rules if isinstance(rules, list) else [rules]:
        until = _first(rule.get("UNTIL"), None)
        if isinstance(until, date):
            rule = icalendar.vRecur({**rule, "UNTIL": [_like(until, anchor)]})  # noqa: PLW2901
        expanded = dateutil.rrule.rrulestr(rule.to_ical().decode(), dtstart=anchor)
        excluded.extend(expanded.between(_like(first, anchor), _like(last, anchor), inc=True))
    if excluded:
        event.add(
            "EXDATE", excluded if isinstance(start, datetime) else [d.date() for d in excluded]
        )


def _like(moment: date, anchor: datetime) -> datetime:
    """``moment`` as dateutil compares it with ``anchor``: aware (in UTC) or naive alike.

    A date stands for its whole day (an UNTIL date includes its day).
    """
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(23, 59, 59), tzinfo=anchor.tzinfo)
    if anchor.tzinfo is None:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return (moment if moment.tzinfo else moment.replace(tzinfo=anchor.tzinfo)).astimezone(UTC)


def _first(value: object, default: object) -> object:
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def _naive(moment: date) -> datetime:
    """A naive datetime for step counting (an error of hours does not matter there)."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return datetime(moment.year, moment.month, moment.day)  # noqa: DTZ001
