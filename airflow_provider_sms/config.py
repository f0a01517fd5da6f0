"""The provider's settings, section ``[sms_api]`` of Airflow's configuration: the one module that reads it.

Every option is declared in :data:`OPTIONS`, which
:func:`~airflow_provider_sms.get_provider_info.get_provider_info` hands to Airflow (``airflow
config list`` shows them, with descriptions and defaults). Set them in ``airflow.cfg`` or as
environment variables (``AIRFLOW__SMS_API__<OPTION>``)::

    [sms_api]
    webhook_base_url = https://airflow.example.com
    webhook_secret = a-long-random-string
    data_path = s3://aws_default@bucket/sms

Values are read when asked for, never cached: a changed secret applies without a restart.
This is also the one place that imports Airflow's ``conf`` (through
``airflow.providers.common.compat``, right on every supported Airflow version), inside
:func:`_conf` rather than at module level: Airflow reads this module's :data:`OPTIONS` while
it builds that ``conf``.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Any

log = logging.getLogger(__name__)

SECTION = "sms_api"
MIN_WEBHOOK_SECRET_LENGTH = 16
"""The webhook receiver refuses every request while the secret is shorter than this."""
_SECRET_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")

LEGACY_DATA_DIR_VARIABLE = "sms_api_data_dir"
"""The Airflow Variable that named the data folder before ``[sms_api] data_path`` (deprecated)."""

JOURNAL_FOLDER = "journal"
"""The send journal's folder under ``data_path`` (unless ``journal_path`` is set)."""
DATA_FOLDER = "sms_api"
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
"""Executors that run every task on the scheduler's host: a local folder is then the same for every try."""

OPTIONS: dict[str, dict[str, Any]] = {
    "webhook_secret": {
        "description": "Secret part of the webhook URLs handed to the API: at least "
        f"{MIN_WEBHOOK_SECRET_LENGTH} characters of A-Z, a-z, 0-9, '_' and '-'. With none set, or an "
        "unusable one, the webhook endpoints refuse every request.",
        "version_added": "0.1.0",
        "type": "string",
        "sensitive": True,
        "example": "a-long-random-string",
        "default": "",
    },
    "webhook_base_url": {
        "description": "Public base URL of this deployment's API server, used to build callback URLs "
        '(callback_url="airflow").',
        "version_added": "0.1.0",
        "type": "string",
        "example": "https://airflow.example.com",
        "default": "",
    },
    "journal_path": {
        "description": "Root folder (an ObjectStoragePath URL or a local path) of the send journal, which "
        "keeps a retried or re-run task from reaching a person twice. Use a place every worker shares. "
        f"Unset: <data_path>/{JOURNAL_FOLDER}. An operator's journal_path= argument overrides it.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "s3://aws_default@bucket/sms-journal",
        "default": None,
    },
    "data_path": {
        "description": "Base folder (an ObjectStoragePath URL, with the connection id before the bucket, or "
        "a local path) of the provider's own files: the send journal (journal/, unless journal_path is "
        "set), the suppression list (suppression.csv), the example DAGs' hygiene outputs and resume "
        "state (hygiene/) and campaign records. With workers on several hosts, use a place every worker "
        f"shares. Unset: $AIRFLOW_HOME/{DATA_FOLDER} (or, deprecated, the Variable "
        f"{LEGACY_DATA_DIR_VARIABLE}).",
        "version_added": "0.1.0",
        "type": "string",
        "example": "s3://aws_default@bucket/sms",
        "default": None,
    },
    "local_paths_shared": {
        "description": "Set to True when the local paths of data_path and journal_path are on a filesystem "
        "every worker mounts (NFS, EFS...): silences the warning that a task logs when they are local "
        "and [core] executor can run its tries on several hosts.",
        "version_added": "0.1.0",
        "type": "boolean",
        "example": "True",
        "default": "False",
    },
}

DESCRIPTION = "Settings of the SMS & Voice API provider: webhook receiver, send journal, data folder."


def webhook_base_url() -> str:
    """``[sms_api] webhook_base_url`` without a trailing ``/`` (``""`` when unset)."""
    return _option("webhook_base_url").rstrip("/")


def webhook_secret() -> str:
    """``[sms_api] webhook_secret`` (``""`` when unset)."""
    return _option("webhook_secret")


def check_webhook_secret(secret: str) -> None:
    """Refuse a ``[sms_api] webhook_secret`` the receiver cannot work with; one rule for both ends.

    The plugin (``airflow_provider_sms.plugins.webhooks``) refuses every request while the
    secret is unusable and logs this message; ``callback_url="airflow"`` fails the task with it.
    The secret is a path segment: only the URL-safe alphabet ``[A-Za-z0-9_-]`` survives there
    (base64's ``/`` becomes ``%2F``, which the server decodes into a path separator before
    routing, so every receipt would get a 404), and at least :data:`MIN_WEBHOOK_SECRET_LENGTH`
    of them.

    :param secret: the configured value, surrounding whitespace already stripped.
    :raises SmsApiConfigError: saying why, never showing the secret.
    """
    from airflow_provider_sms.exceptions import SmsApiConfigError

    option = f"[{SECTION}] webhook_secret"
    if not secret:
        problem = f"{option} is not set"
    elif len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
        problem = f"{option} is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters"
    elif not _SECRET_ALPHABET.fullmatch(secret):
        problem = (
            f"{option} has characters other than A-Z, a-z, 0-9, '_' and '-' (such as base64's '+', '/' "
            "or '='): it is part of the webhook URL's path, where they do not survive"
        )
    else:
        return
    raise SmsApiConfigError(
        f"{problem}; the SMS API webhook receiver refuses every request until it is fixed (generate "
        'one with: python -c "import secrets; print(secrets.token_urlsafe(32))")'
    )


def journal_path() -> str:
    """``[sms_api] journal_path``, else ``<data_path>/journal``."""
    return _option("journal_path") or f"{data_path().rstrip('/')}/{JOURNAL_FOLDER}"


def data_path() -> str:
    """``[sms_api] data_path``, else ``$AIRFLOW_HOME/sms_api``.

    Until ``data_path`` is set, the deprecated Airflow Variable ``sms_api_data_dir`` is still
    read (with a warning saying to set ``data_path``), for one release.
    """
    configured = _option("data_path")
    if configured:
        return configured
    legacy = _legacy_data_dir()
    if legacy:
        message = (
            f"The Airflow Variable {LEGACY_DATA_DIR_VARIABLE!r} is deprecated and will be ignored in a "
            f"later release: set [{SECTION}] data_path (or {env_var('data_path')}) to {legacy!r} instead"
        )
        log.warning("%s", message)
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return legacy
    return os.path.join(_airflow_home(), DATA_FOLDER)


def distributed_executor() -> str | None:
    """The first executor of ``[core] executor`` that may run a task on another host, or ``None``.

    ``[core] executor`` may list several (``LocalExecutor,CeleryExecutor``), by name, by class
    path or as ``alias:path``; only :data:`LOCAL_EXECUTORS` keep every try on one host.
    """
    configured = str(_conf().get("core", "executor", fallback="") or "")
    for item in re.split(r"[,;]", configured):
        name = item.strip().rsplit("=", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[-1].strip()
        if name and name not in LOCAL_EXECUTORS:
            return item.strip()
    return None


def is_local_location(location: str) -> bool:
    """Whether ``location`` (a path or an ObjectStoragePath URL) is on this machine's filesystem."""
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(location.strip())
    return protocol in (None, "file", "local")


def local_paths_shared() -> bool:
    """``[sms_api] local_paths_shared``: local paths are on a filesystem every worker mounts."""
    return _option("local_paths_shared").lower() in {"true", "t", "1", "yes", "on"}


_warned: set[tuple[Any, ...]] = set()


def warn_if_local_on_distributed(location: str, what: str, log: Any) -> bool:
    """Warn (once per task try) when ``location`` is local but tries may run on other hosts.

    A retry on another host would not see what this try wrote there (the send journal, a
    resume state, the suppression list). Silenced by ``[sms_api] local_paths_shared = True``.

    :param location: the path or URL the caller relies on.
    :param what: what it holds, for the message ("the send journal").
    :param log: the task's logger.
    :returns: whether the situation applies (warned now or earlier in this task).
    """
    if not is_local_location(location):
        return False
    executor = distributed_executor()
    if executor is None or local_paths_shared():
        return False
    once = (_running_task(), location, what)
    if once not in _warned:
        _warned.add(once)
        log.warning(
            "%s is at %s, a folder on this worker, but [core] executor = %s can run a retry of this task "
            "on another host, which will not see it. Set [%s] data_path (%s) to a place every worker "
            "shares, e.g. s3://aws_default@bucket/sms, or, if this folder is on a filesystem every worker "
            "mounts, set [%s] local_paths_shared = True.",
            what[:1].upper() + what[1:],
            location,
            executor,
            SECTION,
            env_var("data_path"),
            SECTION,
        )
    return True


def _running_task() -> tuple[Any, ...] | None:
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number)
    except Exception:
        return None


def default_deferrable() -> bool:
    """``[operators] default_deferrable``: Airflow's own default for deferrable operators and sensors."""
    return bool(_conf().getboolean("operators", "default_deferrable", fallback=False))


def env_var(option: str) -> str:
    """The environment variable that sets ``option``: ``AIRFLOW__SMS_API__<OPTION>``."""
    return f"AIRFLOW__{SECTION.upper()}__{option.upper()}"


def _option(option: str) -> str:
    return (_conf().get(SECTION, option, fallback="") or "").strip()


def _conf() -> Any:
    from airflow_provider_sms.compat import conf

    return conf


def _legacy_data_dir() -> str:
    from airflow.sdk import Variable

    return str(Variable.get(LEGACY_DATA_DIR_VARIABLE, default=None) or "").strip()


def _airflow_home() -> str:
    return os.path.expanduser(os.environ.get("AIRFLOW_HOME") or os.path.join("~", "airflow"))


__all__ = [
    "MIN_WEBHOOK_SECRET_LENGTH",
    "OPTIONS",
    "SECTION",
    "check_webhook_secret",
    "data_path",
    "default_deferrable",
    "distributed_executor",
    "env_var",
    "is_local_location",
    "journal_path",
    "local_paths_shared",
    "warn_if_local_on_distributed",
    "webhook_base_url",
    "webhook_secret",
]
