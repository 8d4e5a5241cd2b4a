"""Time in the manifests: ISO-8601 durations, Knative's retry backoff, and cron schedules (the
step check Knative's robfig/cron parser does not make, and the next time one fires)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from croniter import croniter

from rpsquest.devbroker.errors import ManifestError

# Durations.

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"P(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as PT0.2S or PT9M (days and smaller units)."""
    match = _DURATION.fullmatch(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ManifestError(f"{text!r} is not an ISO-8601 duration such as PT10S.")
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    return sum(float(match[name] or 0) * size for name, size in units.items())


def backoff(policy: str | None, delay: float | None, retry_number: int) -> float:
    """Seconds before retry `retry_number` (0 = the first retry), as Knative counts it."""
    if delay is None or policy is None:
        return 0.0
    if policy == "exponential":
        return delay * 2**retry_number
    return delay * retry_number  # linear: Knative's first retry does not wait


# Schedules.

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, lowest, highest, names for the values from `lowest` on (Knative parses with robfig/cron).
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(text: str, low: int, high: int, names: Sequence[str], where: str) -> int:
    if text.lower() in names:
        return low + names.index(text.lower())
    if not text.isdigit() or not low <= int(text) <= high:
        raise ManifestError(f"{where}: {text!r} is not a value in {low}-{high}.")
    return int(text)


def _check_cron_item(item: str, low: int, high: int, names: Sequence[str], where: str) -> None:
    base, slash, step_text = item.partition("/")
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start = _cron_value(first, low, high, names, where)
        end = _cron_value(last, low, high, names, where)
        if start > end:
            raise ManifestError(f"{where}: the range {base!r} runs backwards.")
    else:
        start = _cron_value(base, low, high, names, where)
        end = high if slash else start  # robfig/cron reads "N/step" as N-high/step
    if not slash:
        return
    if not step_text.isdigit() or int(step_text) == 0:
        raise ManifestError(f"{where}: the step {step_text!r} must be a positive integer.")
    if int(step_text) > end - start:
        raise ManifestError(
            f"{where}: the step {step_text} exceeds the range {start}-{end}, so it would fire only"
            f" at {start} (the original's */150 silently meant hourly)."
        )


def validate_schedule(schedule: str) -> None:
    """A five-field cron string whose every step fits its field's range (SPEC §10.1)."""
    fields = schedule.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ManifestError(f"Schedule {schedule!r} needs five fields (minute … day of week).")
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            _check_cron_item(item, low, high, names, f"schedule {schedule!r}, {name}")
    if not croniter.is_valid(schedule):
        raise ManifestError(f"Schedule {schedule!r} is not a valid cron expression.")


def next_fire(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `schedule` fires, in `after`'s time zone."""
    return croniter(schedule, after).get_next(datetime)
