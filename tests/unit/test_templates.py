"""Message templates: plain {column} placeholders only, refused up front otherwise."""

from __future__ import annotations

import pytest

from airflow_provider_sms.api.templates import MessageTemplate
from airflow_provider_sms.exceptions import CampaignInputError, ErrorClass, classify


def test_renders_a_row() -> None:
    template = MessageTemplate("Hi {first_name}, your order {order_id} ships today")
    assert template.fields == ("first_name", "order_id")
    rendered = template.render({"first_name": " Maja ", "order_id": "29211", "other": "x"})
    assert rendered.text == "Hi Maja, your order 29211 ships today"
    assert rendered.reason is None


def test_doubled_braces_are_literal_and_values_are_never_formatted() -> None:
    template = MessageTemplate("{{code}} {name} {{{name}}}")
    assert template.fields == ("name",)
    assert (
        template.render({"name": "{0.__class__} {x}"}).text == "{code} {0.__class__} {x} {{0.__class__} {x}}"
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"order_id": "1"}, "no value for {first_name}"),
        ({"first_name": "  ", "order_id": "1"}, "empty {first_name}"),
    ],
)
def test_missing_or_empty_value_gives_a_reason(row: dict[str, str], reason: str) -> None:
    rendered = MessageTemplate("Hi {first_name}, order {order_id}").render(row)
    assert rendered.text is None
    assert rendered.reason == reason


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {first_name.__class__}", "attribute and index access"),
        ("Hi {row[0]}", "attribute and index access"),
        ("Hi {}", "empty placeholder"),
        ("Hi {0}", "positional"),
        ("Hi {name!r}", "no conversions"),
        ("Hi {name:>10}", "format specs are not allowed"),
        ("Hi {name:{width}}", "format specs are not allowed"),
        ("Hi {name", "not a valid template"),
        ("Hi name}", "not a valid template"),
        ("   ", "non-empty"),
    ],
)
def test_bad_templates_are_refused_with_a_clear_error(template: str, message: str) -> None:
    with pytest.raises(CampaignInputError, match=message) as error:
        MessageTemplate(template)
    assert classify(error.value) is ErrorClass.FATAL
