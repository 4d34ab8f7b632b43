"""The traffic a review says a change moves: jobs inserted in SQL, every figure checked against SQL over jobs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.services.bulk import BulkChange, BulkService
from dashboard.services.traffic import CANNOT_ROUTE, DAYS, NO_HISTORY
from dashboard.services.traffic_reads import NOT_ADMIN, TrafficService
from dashboard.services.transfer import TransferService, describe_plan, to_json
from dashboard.services.usage import UsageService
from tests import hostile
from tests.factories import make_model, make_provider, make_user

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
HOUR = NOW.replace(minute=0)
START = HOUR - timedelta(days=DAYS)


@pytest.fixture(autouse=True)
def _this_hour(monkeypatch):
    """NOW, HOUR and START of the hour each test runs in, not the hour the module was collected in: the reviews
    that take no `now` (bulk, import) read the window of the real clock. Near the end of an hour, wait for the next."""
    moment = datetime.now(UTC)
    if moment.minute == 59 and moment.second >= 45:
        time.sleep(61 - moment.second)
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    monkeypatch.setitem(globals(), "NOW", now)
    monkeypatch.setitem(globals(), "HOUR", now.replace(minute=0))
    monkeypatch.setitem(globals(), "START", now.replace(minute=0) - timedelta(days=DAYS))


USD_IMAGE = {"billing_unit": "per_image", "per_image": 0.04, "currency": "USD"}
USD_REQUEST = {"billing_unit": "per_request", "per_request": 0.5, "currency": "USD"}
TOKENS = {"billing_unit": "per_1k_tokens", "per_1k_tokens": 0.01, "currency": "USD"}

# The contract, over jobs itself: per model, the jobs created in the window.
SQL_COUNTS = sa.text("""
select api_model_id::text, count(*), count(*) filter (where status = 'completed'),
       count(*) filter (where status = 'failed'), count(quality_rating), coalesce(sum(quality_rating), 0)
from jobs where created_at >= :start and created_at < :end group by 1
""")


@pytest.fixture
def slot(engine):
    """image/generation: A (default, per image), B (per request), C (per token: cannot be costed); D elsewhere."""
    p, q = make_provider(engine, display_name="P"), make_provider(engine, display_name="Q")
    a = make_model(engine, p, display_name="A", priority=1, is_default=True, pricing=USD_IMAGE)
    b = make_model(engine, p, display_name="B", priority=1, pricing=USD_REQUEST)
    c = make_model(engine, q, display_name=hostile.FORMULA, priority=3, pricing=TOKENS)
    d = make_model(engine, q, display_name="D", modality="video", pricing=USD_REQUEST)
    rows = []
    for model, statuses in ((a, "cccccfffqp"), (b, "ccccccf"), (c, "cxq")):
        for n, status in enumerate(statuses):
            full = {"c": "completed", "f": "failed", "q": "queued", "p": "processing", "x": "cancelled"}[status]
            rating = (n % 5) + 1 if n % 2 else None
            rows.append((model, full, rating, START + timedelta(hours=n * 17)))
    # The window's edges and outside it: the first instant counts; this hour, 8 days ago and the future do not.
    rows += [(a, "completed", 5, START), (a, "failed", 1, HOUR), (a, "failed", 1, START - timedelta(days=1))]
    rows += [(b, "completed", None, NOW + timedelta(days=30)), (d, "completed", 4, START + timedelta(hours=3))]
    _insert(engine, rows[: len(rows) // 2])
    UsageService(engine, user_id=SERVICE_ROLE).fold()  # half from the rollups, half still pending deltas
    _insert(engine, rows[len(rows) // 2 :])
    return {"A": a, "B": b, "C": c, "D": d, "P": p}


def _insert(engine, rows) -> None:
    with engine.begin() as conn:
        for model, status, rating, created in rows:
            conn.execute(
                sa.text("insert into jobs (api_model_id, status, quality_rating, created_at) values (:m, :s, :r, :c)"),
                {"m": model, "s": status, "r": rating, "c": created},
            )


def _sql(engine, model_id) -> tuple[int, int, int, int, int]:
    with engine.connect() as conn:
        rows = {r[0]: tuple(r[1:]) for r in conn.execute(SQL_COUNTS, {"start": START, "end": HOUR})}
    return rows.get(str(model_id), (0, 0, 0, 0, 0))


def _rate(counts) -> float | None:
    _, completed, failed, _, _ = counts
    return failed / (completed + failed) if completed + failed else None


@pytest.fixture
def admin(engine):
    return make_user(engine, "admin")


def test_making_b_the_default_moves_as_jobs_with_figures_exact_against_jobs(engine, slot, admin):
    traffic = TrafficService(engine, user_id=admin).of_default(slot["B"], now=NOW)
    a, b, c = (_sql(engine, slot[n]) for n in "ABC")
    assert a[0] == 11  # 10 in the window plus its first instant; this hour, before and after left out
    (move,) = traffic.moves
    assert (move.source, move.target, move.jobs) == ("A", "B", a[0])
    (image,) = traffic.moving
    assert image.jobs == a[0] + b[0] + c[0]
    # Before: A at 0.04 a completed job, B at 0.5, C cannot be costed (named, not zero).
    assert image.before.spend["USD"] == pytest.approx((a[1] * 0.04 + b[1] * 0.5) / DAYS)
    assert image.after.spend["USD"] == pytest.approx((a[1] + b[1]) * 0.5 / DAYS)
    assert image.before.uncostable == image.after.uncostable == (hostile.FORMULA,)
    mix = (a[0] * _rate(a) + b[0] * _rate(b) + c[0] * _rate(c)) / (a[0] + b[0] + c[0])
    assert image.before.failure_rate == pytest.approx(mix)
    mix = ((a[0] + b[0]) * _rate(b) + c[0] * _rate(c)) / (a[0] + b[0] + c[0])
    assert image.after.failure_rate == pytest.approx(mix)
    rating = lambda n: n[4] / n[3]  # noqa: E731
    assert image.after.rating == pytest.approx(((a[0] + b[0]) * rating(b) + c[0] * rating(c)) / (a[0] + b[0] + c[0]))


def test_switching_a_provider_off_sends_its_models_jobs_to_the_next_provider(engine, slot, admin):
    traffic = TrafficService(engine, user_id=admin).of_provider(slot["P"], now=NOW)
    a, b, c = (_sql(engine, slot[n]) for n in "ABC")
    assert {(m.source, m.target, m.jobs) for m in traffic.moves} == {
        ("A", hostile.FORMULA, a[0]),
        ("B", hostile.FORMULA, b[0]),
    }
    (image,) = traffic.moving
    assert image.after.spend == {} and image.after.uncostable == (hostile.FORMULA,)
    assert image.after.failure_rate == pytest.approx(_rate(c))
    assert hostile.FORMULA + " (cannot be costed)" in image.after.describe_spend()


def test_the_bulk_review_carries_the_traffic(engine, slot, admin):
    review = BulkService(engine, user_id=admin).review([slot["A"], slot["B"], slot["C"]], BulkChange("deactivate"))
    a, b, c = (_sql(engine, slot[n]) for n in "ABC")
    assert {(m.source, m.target, m.jobs) for m in review.traffic.moves} == {
        ("A", CANNOT_ROUTE, a[0]),
        ("B", CANNOT_ROUTE, b[0]),
        (hostile.FORMULA, CANNOT_ROUTE, c[0]),
    }
    assert review.traffic.slots[0].after.unroutable == a[0] + b[0] + c[0]
    assert review.traffic.slots[0].after.describe_failure() == NO_HISTORY


def test_deactivating_and_restoring_one_model(engine, slot, admin):
    service = TrafficService(engine, user_id=admin)
    a = _sql(engine, slot["A"])
    assert [(m.source, m.target, m.jobs) for m in service.of_write({"is_active": False}, model_id=slot["A"]).moves] == [
        ("A", "B", a[0])
    ]
    moved = service.of_write({"modality": "video", "task": "generation"}, model_id=slot["A"], now=NOW)
    assert [s.slot for s in moved.slots] == ["image/generation", "video/generation"]
    assert [(m.source, m.target) for m in moved.moves] == [("A", "B")]  # D stays video's pick: nothing moves there


def test_the_import_dry_run_prints_the_traffic(engine, slot):
    service = TransferService(engine, user_id=SERVICE_ROLE)
    rows = [r for r in service.export_rows() if r["display_name"] == "A"]
    rows[0]["is_active"] = False
    rows[0]["is_default"] = False
    plan = service.plan(to_json(rows).encode(), "x.json")
    a = _sql(engine, slot["A"])
    assert [(m.source, m.target, m.jobs) for m in plan.traffic.moves] == [("A", "B", a[0])]
    text = describe_plan(plan)
    assert f"{a[0] / DAYS:,.4g} jobs/day move from A to B" in text
    assert "spend/day" in text and "failure rate" in text


def test_an_imported_new_model_has_no_history_and_its_price_from_the_file(engine, slot):
    service = TransferService(engine, user_id=SERVICE_ROLE)
    (row,) = [r for r in service.export_rows() if r["display_name"] == "A"]
    new = {**row, "model_key": "acme/new", "display_name": "New", "priority": 0, "is_default": False}
    new["pricing"] = {"billing_unit": "per_request", "per_request": 2, "currency": "EUR"}
    plan = service.plan(json.dumps(json.loads(to_json([new]))).encode(), "x.json")
    (image,) = plan.traffic.moving
    a = _sql(engine, slot["A"])
    assert [(m.source, m.target, m.jobs) for m in image.moves] == [("A", "New", a[0])]
    assert image.after.failure_unknown == ("New",) and image.after.spend["EUR"] == pytest.approx(a[1] * 2 / DAYS)


def test_people_who_cannot_read_the_rollups_get_a_note_not_figures(engine, slot):
    viewer = make_user(engine, "user")
    traffic = TrafficService(engine, user_id=viewer).estimate([], [], now=NOW)
    assert traffic.note == NOT_ADMIN and traffic.slots == ()


def test_a_new_model_written_first_in_line_takes_the_picks_jobs(engine, slot, admin):
    fields = {"display_name": "Newcomer", "modality": "image", "task": "generation", "priority": 0}
    traffic = TrafficService(engine, user_id=admin).of_write({**fields, "provider_id": slot["P"]}, model_id=None)
    a = _sql(engine, slot["A"])
    assert [(m.source, m.target, m.jobs) for m in traffic.moves] == [("A", "Newcomer", a[0])]
    assert traffic.slots[0].after.describe_failure().endswith(f"({NO_HISTORY}: Newcomer)")
