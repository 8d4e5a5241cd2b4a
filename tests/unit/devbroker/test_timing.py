"""Durations, Knative's backoff and cron schedules."""

from datetime import UTC, datetime

import pytest

from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.timing import next_fire, parse_duration, validate_schedule
from rpsquest.devbroker.topology import Delivery

# Backoff and durations.


def test_the_broker_backoff_doubles_from_the_base_delay():
    delivery = Delivery(retry=5, backoff_policy="exponential", backoff_delay=0.2)

    assert [round(delivery.backoff(n), 6) for n in range(5)] == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_linear_backoff_and_no_policy():
    assert [Delivery(3, "linear", 1.0).backoff(n) for n in range(3)] == [0.0, 1.0, 2.0]
    assert Delivery(3, None, 1.0).backoff(2) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.2S", 0.2), ("PT10S", 10), ("PT9M", 540), ("PT2M", 120), ("P1DT1H30M", 91800)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10s", "PT", "P", "PT1.S", "P1Y", "-PT1S"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ManifestError):
        parse_duration(text)


# Cron.


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/30 * * * *", "2026-03-01T10:29:59", ["10:30", "11:00", "11:30"]),
        ("15,45 * * * *", "2026-03-01T10:15:00", ["10:45", "11:15", "11:45"]),
        ("5 */2 * * *", "2026-03-01T10:05:00", ["12:05", "14:05", "16:05"]),
        ("0 9 * * mon-fri", "2026-02-27T10:00:00", ["09:00", "09:00", "09:00"]),
    ],
)
def test_next_fire_times(schedule, after, expected):
    when = datetime.fromisoformat(after).replace(tzinfo=UTC)
    fires = []
    for _ in expected:
        when = next_fire(schedule, when)
        fires.append(when)

    assert [f.strftime("%H:%M") for f in fires] == expected
    assert all(f.tzinfo is not None for f in fires)


def test_weekday_schedule_skips_the_weekend():
    friday = datetime(2026, 2, 27, 10, tzinfo=UTC)

    assert next_fire("0 9 * * mon-fri", friday).strftime("%a %d") == "Mon 02"


@pytest.mark.parametrize(
    "schedule", ["*/30 * * * *", "15,45 * * * *", "5 */2 * * *", "0 0 1 jan *", "0-30/10 1 * * 1-5"]
)
def test_valid_schedules(schedule):
    validate_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("*/150 * * * *", "step 150 exceeds the range 0-59"),  # the original's bug: hourly
        ("*/60 * * * *", "exceeds the range"),
        ("0 */24 * * *", "exceeds the range 0-23"),
        ("0-10/20 * * * *", "exceeds the range 0-10"),
        ("*/0 * * * *", "positive integer"),
        ("60 * * * *", "not a value in 0-59"),
        ("* * * *", "five fields"),
        ("0 * * * * *", "five fields"),
        ("@hourly", "five fields"),
        ("30-10 * * * *", "runs backwards"),
        ("0 0 L * *", "not a value"),
    ],
)
def test_invalid_schedules_are_rejected(schedule, message):
    with pytest.raises(ManifestError, match=message):
        validate_schedule(schedule)
