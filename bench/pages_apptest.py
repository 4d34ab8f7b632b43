"""Every page of the real app in Streamlit's AppTest, signed in as an admin: warm and cold runs, and what each sends.

A view is a page in one state (Models sorted by name, Usage over 7 days by provider). For each view:
  - warm: one untimed run, then (once the background reads it started are over) the median of N timed runs of the
    same view (every cache hot);
  - cold: N times, a catalogue write (one active image/generation model's priority changed through ModelService,
    as an admin in another process would), then one timed run: the first click after a write;
  - bytes: the protobuf size of everything the run sent to the browser (the ForwardMsgs of the run), the figure a
    websocket would carry for it, before compression.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "ui" / "app.py")
Step = Callable[["AppTestLike", "Facts"], None]
AppTestLike = object  # streamlit.testing.v1.AppTest, imported late (it starts Streamlit's machinery)


@dataclass(frozen=True)
class Facts:
    """What the views need to know about the database."""

    editor_model: UUID  # the model the editor opens (the demo's SDXL 1.0: the busiest, in the biggest slot)
    touched_model: UUID  # the model each cold run's write changes
    models_pages_at_200: int


@dataclass
class View:
    group: str  # the row of the summary table it belongs to
    name: str
    enter: Step  # puts the app in this view (untimed)
    click: Step | None = None  # the timed click; None: a rerun of the view as it is
    before_click: Step | None = None  # untimed, before every timed click (e.g. back to the page it starts from)


@dataclass
class Measured:
    view: View
    warm: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    error: str = ""

    @staticmethod
    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None


# ─── The views ──────────────────────────────────────────────────────────────────────────────────
def _page(name: str) -> str:
    return f"../../pages/{name}.py"  # switch_page paths are relative to the entrypoint, dashboard/ui/app.py


def _go(page: str) -> Step:
    def step(at, facts: Facts) -> None:
        at.switch_page(_page(page)).run()

    return step


MODELS_AS_OPENED = {"f_search": "", "f_sort": "priority", "models_page_size": 50}


def _models(**widgets) -> Step:
    """The Models page with these widgets set, the others as a first visit has them."""

    def step(at, facts: Facts) -> None:
        at.switch_page(_page("models")).run()
        for key, value in {**MODELS_AS_OPENED, **widgets}.items():
            if key == "models_page":
                value = min(value, facts.models_pages_at_200)
            _set(at, key, value)
            at.run()

    return step


def _set(at, key: str, value) -> None:
    """Set the widget with this key, whatever kind it is (KeyError when the page has no such widget)."""
    for kind in ("selectbox", "segmented_control", "text_input", "number_input", "toggle", "radio"):
        try:
            getattr(at, kind)(key=key).set_value(value)
            return
        except KeyError:
            continue
    raise KeyError(f"no widget with key {key!r}")


def _routing(modality: str, task: str | None) -> Step:
    def step(at, facts: Facts) -> None:
        at.switch_page(_page("routing")).run()
        _set(at, "r_modality", modality)
        at.run()
        if task:
            _set(at, "r_task", task)
            at.run()

    return step


def _usage(period: str, group: str) -> Step:
    def step(at, facts: Facts) -> None:
        at.switch_page(_page("usage")).run()
        _set(at, "u_range", period)
        _set(at, "u_group", group)
        at.run()

    return step


def _health(window: str) -> Step:
    def step(at, facts: Facts) -> None:
        at.switch_page(_page("health")).run()
        _set(at, "h_window", window)
        at.run()

    return step


def _open_editor(at, facts: Facts) -> None:
    at.query_params["id"] = str(facts.editor_model)
    at.switch_page(_page("model_editor")).run()


def views() -> list[View]:
    """Every page, and the states the issue measured, in menu order."""
    from dashboard.services.catalogue import SORTS
    from dashboard.services.usage import GROUPINGS, PRESETS

    found = [
        View("Overview", "Overview", _go("overview")),
        View("Models (search, sorts, 200 rows, page 20)", "Models, first page", _models()),
        View("Models (search, sorts, 200 rows, page 20)", "Models, search 'flux'", _models(f_search="flux")),
        *(
            View("Models (search, sorts, 200 rows, page 20)", f"Models, sorted by {sort}", _models(f_sort=sort))
            for sort in SORTS
            if sort != "priority"
        ),
        View("Models (search, sorts, 200 rows, page 20)", "Models, 200 rows", _models(models_page_size=200)),
        View(
            "Models (search, sorts, 200 rows, page 20)",
            "Models, 200 rows, page 20",
            _models(models_page_size=200, models_page=20),
        ),
        View("Model editor open", "Model editor, open SDXL 1.0", _go("models"), _open_editor, _go("models")),
        View("Defaults", "Defaults", _go("defaults")),
        View("Providers", "Providers", _go("providers")),
        View("Routing preview, image/generation", "Routing, image/generation", _routing("image", "generation")),
        View("Routing, All slots", "Routing, All slots", _routing("All slots", None)),
        *(
            View("Usage (range x grouping views)", f"Usage, {period} by {group}", _usage(period, group))
            for period in PRESETS
            for group in GROUPINGS
        ),
        *(View("Health", f"Health, {window}", _health(window)) for window in ("1h", "24h")),
        View("History", "History", _go("history")),
        View("Import and export", "Import and export", _go("transfer")),
        View("Sessions", "Sessions", _go("sessions")),
    ]
    return found


# ─── Running them ───────────────────────────────────────────────────────────────────────────────
class _Sent:
    """Records the protobuf bytes of each AppTest run's messages (what a browser would be sent)."""

    last = 0
    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        from streamlit.testing.v1.local_script_runner import LocalScriptRunner

        original = LocalScriptRunner.forward_msgs

        def forward_msgs(runner):
            messages = original(runner)
            cls.last = sum(m.ByteSize() for m in messages)
            return messages

        LocalScriptRunner.forward_msgs = forward_msgs
        cls.installed = True


def _quiet_streamlit() -> None:
    """AppTest runs log "missing ScriptRunContext" warnings by the dozen; they would bury the figures."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


def signed_in_app(user_id: UUID):
    from streamlit.testing.v1 import AppTest

    _quiet_streamlit()

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["_dashboard_user_id"] = user_id
    at.session_state["_dashboard_last_seen"] = time.time()
    at.run()
    if at.exception:
        raise RuntimeError(f"the app failed to start: {at.exception[0].message}")
    return at


def touch_catalogue(engine: Engine, admin: UUID, model_id: UUID) -> None:
    """A catalogue write, as another admin would make it: the data version moves, so caches keyed by it miss."""
    from dashboard.services import ModelService

    service = ModelService(engine, user_id=admin)
    priority = service.get_model(model_id)["priority"]
    service.update(model_id, {"priority": 61 if priority != 61 else 62})


def measure(
    engine: Engine, admin: UUID, facts: Facts, chosen: list[View], *, runs: int, say: Callable[[str], None]
) -> list[Measured]:
    """Each view warm and cold, in one AppTest session signed in as admin."""
    from dashboard.services import usage_spans
    from dashboard.ui import memory

    _Sent.install()
    at = signed_in_app(admin)
    memory.settle()  # as the web server does at start (dashboard/ui/server.py)
    results = []
    for view in chosen:
        result = Measured(view)
        results.append(result)
        try:
            _fresh(at)
            view.enter(at, facts)
            _check(at)
            _click(at, view, facts)  # untimed: the view's caches fill
            usage_spans.settle()  # and the background reads it started end (Health's copies, a second later)
            for _ in range(runs):
                result.warm.append(_click(at, view, facts))
                result.sent.append(_Sent.last)

            def write() -> None:
                touch_catalogue(engine, admin, facts.touched_model)

            for _ in range(runs):
                result.cold.append(_click(at, view, facts, first=write))
        except Exception as exc:  # noqa: BLE001 — a page that fails (or lost a widget) is reported, the rest run
            result.error = f"{type(exc).__name__}: {exc}"[:200]
        say(_line(result))
    return results


def _fresh(at) -> None:
    at.session_state["_dashboard_last_seen"] = time.time()  # never idle out during a long run


def _click(at, view: View, facts: Facts, *, first: Callable[[], None] | None = None) -> float:
    """One timed click of the view; first (a catalogue write) runs just before it, after any untimed step."""
    _fresh(at)
    if view.before_click:
        view.before_click(at, facts)
    if first:
        first()
    _fresh(at)
    started = time.perf_counter()
    view.click(at, facts) if view.click else at.run()
    took = time.perf_counter() - started
    _check(at)
    return took


def _check(at) -> None:
    if at.exception:
        raise RuntimeError(at.exception[0].message)


def _line(result: Measured) -> str:
    if result.error:
        return f"  {result.view.name}: not measured ({result.error})"
    warm, cold = Measured.median(result.warm), Measured.median(result.cold)
    sent = statistics.median(result.sent) if result.sent else 0
    return (
        f"  {result.view.name}: warm {warm * 1000:.0f} ms, cold {cold * 1000:.0f} ms, sends {sent / 1024:,.0f} KB a run"
    )


def facts_of(engine: Engine) -> Facts:
    """The editor's model (SDXL 1.0), the model cold runs touch, and the Models page count at 200 rows.

    The touched model is an active one at the tail of image/generation (the biggest slot): a write to it concerns
    the Models table, that slot's routing and the usage rows alike, so no cache may keep its old answer.
    """
    with engine.connect() as conn:
        sdxl = conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()
        touched = conn.execute(
            sa.text(
                "select id from api_models where modality = 'image' and task = 'generation' and is_active "
                "and not is_default order by priority desc, model_key limit 1"
            )
        ).scalar_one()
        count = conn.execute(sa.text("select count(*) from api_models")).scalar_one()
    return Facts(editor_model=sdxl, touched_model=touched, models_pages_at_200=max(1, -(-count // 200)))
