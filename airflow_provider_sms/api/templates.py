"""Personal message templates: ``"Hi {first_name}, your order {order_id} ships today"``.

A template is parsed once with :class:`string.Formatter` and refused up front unless every
placeholder is a plain column name: no attribute or index access (``{row.__class__}``,
``{a[0]}``), no positional ``{}``/``{0}``, no conversion (``!r``) and no format spec
(``{x:>10}``, which could nest other fields). Rendering then only concatenates the literal text
with the row's values: nothing of the template or of the data is executed or formatted.

``{{`` and ``}}`` are a literal ``{`` and ``}`` (as in :meth:`str.format`). Airflow renders an
operator's templated field with Jinja first, where ``{{`` opens an expression: see
docs/sending.md for how to write a literal brace in a DAG.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from airflow_provider_sms.exceptions import CampaignInputError


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one row: the text, or why the row cannot have one.

    :param text: the message (``None`` when a placeholder's column is missing or empty).
    :param reason: why there is no text.
    """

    text: str | None
    reason: str | None = None


class MessageTemplate:
    """A validated template; :meth:`render` fills it from one row.

    :param template: the template (after Airflow's Jinja rendering).
    :raises CampaignInputError: for a placeholder that is not a plain column name, or a stray brace.
    """

    def __init__(self, template: str) -> None:
        if not isinstance(template, str) or not template.strip():
            raise CampaignInputError("message_template must be a non-empty string")
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:  # "Single '}' encountered", "unmatched '{'"...
            raise CampaignInputError(
                f"message_template is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
            ) from exc
        pieces: list[tuple[str, str | None]] = []
        for literal, field, spec, conversion in parsed:
            if field is not None:
                _check_field(field, spec, conversion)
            pieces.append((literal, field))
        self.template = template
        self._pieces = tuple(pieces)
        self.fields: tuple[str, ...] = tuple(dict.fromkeys(f for _, f in pieces if f is not None))

    def render(self, row: Mapping[str, object]) -> Rendered:
        """The text for ``row``, or the reason there is none (a placeholder's column missing or empty)."""
        values: dict[str, str] = {}
        for name in self.fields:
            value = row.get(name)
            if value is None:
                return Rendered(None, f"no value for {{{name}}}")
            text = str(value).strip()
            if not text:
                return Rendered(None, f"empty {{{name}}}")
            values[name] = text
        return Rendered("".join(text + (values[f] if f is not None else "") for text, f in self._pieces))

    def __repr__(self) -> str:
        return f"MessageTemplate(fields={list(self.fields)!r})"


def _check_field(field: str, spec: str | None, conversion: str | None) -> None:
    shown = "{" + field + "}"
    if not field.strip():
        raise CampaignInputError("message_template has an empty placeholder {}: name a column (e.g. {name})")
    if field.isdigit():
        raise CampaignInputError(f"message_template placeholder {shown} is positional: name a column")
    if "." in field or "[" in field or "]" in field:
        raise CampaignInputError(
            f"message_template placeholder {shown}: attribute and index access are not allowed; "
            "use a plain column name"
        )
    if conversion:
        raise CampaignInputError(f"message_template placeholder {{{field}!{conversion}}}: no conversions")
    if spec:
        raise CampaignInputError(
            f"message_template placeholder {{{field}:{spec}}}: format specs are not allowed; "
            "prepare the value in the CSV instead"
        )


__all__ = ["MessageTemplate", "Rendered"]
