"""Phone numbers and one-time codes kept out of what Airflow shows: task logs, rendered fields, XCom.

Airflow shows a task's rendered template fields ("Rendered Templates", stored in the metadata
table ``rendered_task_instance_fields``) and its XCom to everyone who may see the DAG, and keeps
them for as long as the DAG run exists. Phone numbers are personal data and one-time codes are
credentials, so the provider's operators and notifiers render their fields *privately*:

* :class:`PrivateRenderingMixin` renders the templated fields as usual, keeps the rendered
  values for ``execute`` / ``notify`` (:meth:`~PrivateRenderingMixin.rendered`), and leaves in
  the attributes -- which Airflow serialises into the rendered fields right after rendering --
  the numbers masked (``+4479******56``, a long list cut short) and the codes as ``***``.
  Numbers stay unmasked when the connection sets ``log_full_numbers``; codes never do.
* One-time codes are also registered with Airflow's secrets masker (:func:`mask_secret`), so
  the task log masks them wherever they appear. Airflow's masker skips values shorter than
  ``[logging] min_length_masked_secret`` (5): a 4-digit code is kept out of the log by never
  being logged, not by the masker.

Numbers are not registered with the masker: each registration recompiles the masker's one
regular expression of every registered value, so registering a list costs time that grows with
the square of its length (``benchmarks/privacy_cost.py``), and each value also travels to the
supervisor process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_sms.api.numbers import mask_number

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context
    from airflow.sdk.definitions._internal.templater import Templater

    _Base = Templater
else:
    _Base = object

HIDDEN = "***"
"""What a one-time code's field shows once rendered."""
MAX_SHOWN_NUMBERS = 100
"""A rendered list of numbers shows this many (masked), then how many more there are."""


def mask_secret(value: object) -> None:
    """Register ``value`` with Airflow's secrets masker (task log, rendered fields, both processes).

    The provider's one import of Airflow's ``mask_secret`` (``airflow.sdk.log``, on every
    supported Airflow; ``airflow.providers.common.compat.sdk`` does not map it).
    """
    if value is None or value == "":
        return
    from airflow.sdk.log import mask_secret as airflow_mask_secret

    airflow_mask_secret(str(value))


def masked_numbers(value: object) -> object:
    """What a field of numbers shows once rendered: each number masked, a long list cut short.

    A list stays a list, anything else (one number, ``"a, b, c"``) becomes one string.
    """
    from airflow_provider_sms.sending.recipients import numbers_from_value

    if value is None or value == "":
        return value
    try:
        numbers = numbers_from_value(value)
    except (TypeError, ValueError):
        return HIDDEN
    shown: list[str] = [mask_number(n) for n in numbers[:MAX_SHOWN_NUMBERS]]
    if len(numbers) > MAX_SHOWN_NUMBERS:
        shown.append(f"... and {len(numbers) - MAX_SHOWN_NUMBERS:,} more")
    if isinstance(value, str) or not isinstance(value, Iterable):
        return ", ".join(shown)
    return shown


def mask_caller_id(number: str | None) -> str | None:
    """A flash call's caller id without its last 6 digits (the code is its last 4 to 6)."""
    if not number:
        return number
    text = str(number)
    return text[:-6] + "*" * 6 if len(text) > 6 else "*" * len(text)


class PrivateRenderingMixin(_Base):
    """Render templated fields privately: full values for the task, masked ones in the attributes.

    Put it first in the bases of an operator or notifier, and declare:

    :cvar number_fields: fields holding phone numbers (one, a list, or a string of several),
        shown masked unless :meth:`reveal_numbers`.
    :cvar secret_fields: fields holding one-time codes, shown as ``***`` and registered with
        the secrets masker; :meth:`secret_field_names` may narrow them per instance.

    Every rendering starts again from the values given at construction, so a notifier called
    twice (or a task rendered twice) never renders the masked values of an earlier rendering.
    The hook is Airflow's own: ``_do_render_template_fields`` is the method both a plain and a
    mapped (``.expand()``) operator render through, on the operator itself.
    """

    number_fields: ClassVar[tuple[str, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        if parent is not self:  # a nested object's fields
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        hidden = (*self.number_fields, *self.secret_field_names())
        sources: dict[str, Any] = self.__dict__.setdefault(
            "_privacy_sources", {name: getattr(self, name, None) for name in hidden}
        )
        for name, source in sources.items():
            setattr(self, name, source)
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        self._hide_rendered_values()

    def _hide_rendered_values(self) -> None:
        rendered: dict[str, Any] = {}
        for name in self.secret_field_names():
            value = getattr(self, name, None)
            rendered[name] = value
            if value is not None and value != "":
                mask_secret(value)
                setattr(self, name, HIDDEN)
        reveal = self.reveal_numbers()
        for name in self.number_fields:
            value = getattr(self, name, None)
            rendered[name] = value
            if not reveal:
                setattr(self, name, masked_numbers(value))
        self.__dict__["_privacy_rendered"] = rendered

    def rendered(self, name: str) -> Any:
        """The rendered value of field ``name`` (the attribute itself when it was not hidden)."""
        values: dict[str, Any] = self.__dict__.get("_privacy_rendered") or {}
        return values[name] if name in values else getattr(self, name)

    def secret_field_names(self) -> tuple[str, ...]:
        """The fields holding one-time codes for this instance (by default :attr:`secret_fields`)."""
        return self.secret_fields

    def reveal_numbers(self) -> bool:
        """Whether rendered numbers stay unmasked: the connection's ``log_full_numbers``.

        Read from the hook (``self.hook``) when it can be; anything that goes wrong masks.
        """
        try:
            return bool(self.hook.settings.log_full_numbers)  # type: ignore[attr-defined]
        except Exception:
            return False


__all__ = [
    "HIDDEN",
    "MAX_SHOWN_NUMBERS",
    "PrivateRenderingMixin",
    "mask_caller_id",
    "mask_secret",
    "masked_numbers",
]
