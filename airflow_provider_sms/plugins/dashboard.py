"""The "SMS & Voice" page in Airflow's UI: charts of hygiene, delivery, inbound SMS and spend.

Registered by :class:`~airflow_provider_sms.plugins.webhooks.SmsApiWebhookPlugin` the Airflow 3
way (Airflow 3.1 to 3.3):

- :data:`DASHBOARD_VIEW`, an *external view* with a ``url_route``: an entry in Airflow's
  navigation that shows the page inside the UI (``/plugin/sms-voice``);
- :data:`DASHBOARD_APP`, a FastAPI app the API server mounts at ``/sms-api/dashboard``::

      GET /sms-api/dashboard/                  the page (HTML, CSS, JS: no data, no sign-in needed)
      GET /sms-api/dashboard/static/<file>     its stylesheet, script and icon
      GET /sms-api/dashboard/api/sections      the charts as HTML (server-side SVG)   } Airflow
      GET /sms-api/dashboard/api/data          the same numbers as JSON               } sign-in

The two ``api/`` routes use Airflow's own security dependencies, as the core API's asset
routes do: ``get_user`` (the ``Authorization: Bearer`` token, or Airflow's ``_token`` sign-in
cookie) answers 401 without a valid sign-in, and ``requires_access_asset("GET")`` answers 403
to a user who may not read assets -- the page shows Asset events, so reading assets is the
permission it needs. Run summaries are further limited to the DAGs the user may read.
``?days=`` picks the period (whole UTC days up to today, default 30, at most 366).

The app is built on its first request: Airflow imports plugins in every process (workers
included), and only the API server needs FastAPI's security machinery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from airflow_provider_sms.plugins.dashboard_data import (
    DEFAULT_DAYS,
    MAX_DAYS,
    Window,
    build_dashboard,
    load_sources,
)
from airflow_provider_sms.plugins.dashboard_rollup import ensure_tables
from airflow_provider_sms.plugins.dashboard_view import render

URL_PREFIX = "/sms-api/dashboard"
URL_ROUTE = "sms-voice"
STATIC_DIR = Path(__file__).with_name("dashboard_static")
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

#: The navigation entry (Airflow resolves the relative paths against its base URL).
DASHBOARD_VIEW: dict[str, Any] = {
    "name": "SMS & Voice",
    "href": URL_PREFIX.lstrip("/") + "/",
    "url_route": URL_ROUTE,
    "icon": URL_PREFIX.lstrip("/") + "/static/icon.svg",
    "destination": "nav",
}


def dashboard_data(user: Any, days: int) -> dict[str, Any]:
    """The page's numbers for ``user`` over the last ``days`` days (read from the metadata database)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.utils.session import create_session

    window = Window.last_days(days)
    readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    with create_session(scoped=False) as session:
        _TABLES.ensure(session.get_bind())
        sources = load_sources(session, window, readable)
    return build_dashboard(sources, window)


class _Tables:
    """Creates (and fills) the plugin's count tables once per process, if the webhooks have not."""

    def __init__(self) -> None:
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self, bind: Any) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                ensure_tables(bind)
                self._ready = True


_TABLES = _Tables()


def create_dashboard_app(data: Callable[[Any, int], dict[str, Any]] = dashboard_data) -> FastAPI:
    """Build the page's app, secured by Airflow's own FastAPI dependencies.

    :param data: returns the page's numbers for a user and a number of days (tests pass their own).
    """
    from airflow.api_fastapi.core_api.security import get_user, requires_access_asset

    app = FastAPI(title="SMS & Voice page", docs_url=None, redoc_url=None, openapi_url=None)
    days_query = Query(DEFAULT_DAYS, ge=1, le=MAX_DAYS, description="Whole UTC days up to today.")
    can_read_assets = [Depends(requires_access_asset("GET"))]
    # A default, not an annotation: this module's annotations are strings FastAPI resolves in its globals.
    signed_in = Depends(get_user)

    @app.get("/", response_class=HTMLResponse)
    def page() -> FileResponse:
        """The page itself: static, it fetches its sections with the viewer's sign-in."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_NO_STORE)

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        """The page's stylesheet, script and icon (nothing else is served)."""
        path = STATIC_DIR / name
        media_type = _STATIC_TYPES.get(path.suffix)
        if media_type is None or "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404, "Not Found")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=300"})

    @app.get("/api/data", dependencies=can_read_assets)
    def data_json(user: Any = signed_in, days: int = days_query) -> JSONResponse:
        """The page's numbers: counts per day, per run and per status (no numbers, no texts)."""
        return JSONResponse(data(user, days), headers=_NO_STORE)

    @app.get("/api/sections", dependencies=can_read_assets, response_class=HTMLResponse)
    def sections(user: Any = signed_in, days: int = days_query) -> HTMLResponse:
        """The page's content: headline counts and server-rendered SVG charts."""
        return HTMLResponse(render(data(user, days)), headers=_NO_STORE)

    return app


class LazyApp:
    """An ASGI app that builds the real one (``factory()``) on its first request.

    :param factory: builds the app.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._get()(scope, receive, send)


#: The page's app as the plugin's ``fastapi_apps`` entry: listed before the webhook app, whose
#: ``/sms-api`` prefix would otherwise take ``/sms-api/dashboard`` too.
DASHBOARD_APP: dict[str, Any] = {
    "app": LazyApp(create_dashboard_app),
    "url_prefix": URL_PREFIX,
    "name": "SMS & Voice page",
}
