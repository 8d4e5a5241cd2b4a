"""Trigger filters: `filter.attributes` and the `filters` dialects, checked at load."""

from collections.abc import Mapping

import pytest

from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.filters import compile_trigger_filter

ATTRIBUTES = {"type": "io.rpsquest.model.promoted", "source": "/rpsquest/promote", "rpsintent": "x"}


def matches(spec: Mapping, attributes: Mapping[str, str] = ATTRIBUTES) -> bool:
    return compile_trigger_filter(spec, "Trigger t")(attributes)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"type": "io.rpsquest.model.promoted"}, True),
        ({"type": "io.rpsquest.model.promoted", "rpsintent": "x"}, True),
        ({"type": "io.rpsquest.model.promoted", "rpsintent": "y"}, False),
        ({"type": "io.rpsquest.model"}, False),
        ({"subject": "brian"}, False),  # absent attribute
        ({"rpsintent": ""}, True),  # "" = present with any value, as Knative's TriggerAnyFilter
        ({}, True),
    ],
)
def test_attribute_filters_match_exactly(attributes, expected):
    assert matches({"filter": {"attributes": attributes}}) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"exact": {"type": "io.rpsquest.model.promoted"}}, True),
        ({"exact": {"type": "io.rpsquest.model"}}, False),
        ({"prefix": {"type": "io.rpsquest."}}, True),
        ({"prefix": {"type": "dev.knative."}}, False),
        ({"suffix": {"source": "/promote"}}, True),
        ({"suffix": {"source": "/train"}}, False),
        ({"prefix": {"subject": "b"}}, False),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "x"}}]}, True),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "y"}}]}, False),
        ({"any": [{"exact": {"rpsintent": "y"}}, {"suffix": {"type": ".promoted"}}]}, True),
        ({"any": [{"exact": {"rpsintent": "y"}}, {"suffix": {"type": ".requested"}}]}, False),
        ({"not": {"exact": {"rpsintent": "y"}}}, True),
        ({"not": {"prefix": {"type": "io."}}}, False),
    ],
)
def test_filters_dialects(expression, expected):
    assert matches({"filters": [expression]}) is expected


def test_filters_override_filter_and_every_expression_must_hold():
    spec = {
        "filter": {"attributes": {"type": "something.else"}},
        "filters": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "x"}}],
    }

    assert matches(spec)
    assert not matches({**spec, "filters": [*spec["filters"], {"exact": {"rpsintent": "y"}}]})


def test_a_trigger_without_filters_takes_every_event():
    assert matches({}) and matches({"filters": []})


def test_cesql_is_rejected_at_load():
    with pytest.raises(ManifestError, match="CESQL filters are not supported"):
        compile_trigger_filter({"filters": [{"cesql": "type = 'x'"}]}, "Trigger t")


@pytest.mark.parametrize(
    "filters",
    [
        [{"exact": {"type": "a"}, "prefix": {"type": "b"}}],  # two dialects in one expression
        [{"regex": {"type": "a.*"}}],
        [{"exact": {"type": ""}}],
        [{"exact": {}}],
        [{"all": []}],
        [{"not": {"cesql": "true"}}],
    ],
)
def test_malformed_filters_are_rejected_at_load(filters):
    with pytest.raises(ManifestError):
        compile_trigger_filter({"filters": filters}, "Trigger t")
