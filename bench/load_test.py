"""Load test: many concurrent sessions browsing and editing the real app, then a consistency check.

Each session is the real entrypoint (dashboard/ui/app.py) in Streamlit's AppTest, in its own thread, signed
in as its own account (a third of them plain users), all against one app process's engine and caches, as a
single server would hold them. Sessions click through the pages for a fixed time: Models with filters and
search, a model in the editor and a save (with the edit-conflict check), Defaults, Routing preview, Usage,
History. Every page run is timed. Afterwards the database is checked: one default per slot, usage equal to
the seed's query, every save present in the audit trail, nothing written by a plain user.

    python -m bench.load_test --sessions 24 --seconds 120 --template bench_usage_1000000

It works on a copy of the template database (made and dropped here), on the server at --server.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = ["models", "model_editor", "defaults", "routing", "usage", "history", "overview"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_test", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--template", default="bench_usage_1000000", help="database to copy (built by bench.usage_bench --keep)"
    )
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()

    import sqlalchemy as sa

    from dashboard.database import create_db_engine
    from dashboard.services.users import create_user
    from db.migrate import migrate

    maintenance = create_db_engine(args.server).execution_options(isolation_level="AUTOCOMMIT")
    name = f"bench_load_{os.getpid()}"
    with maintenance.connect() as conn:
        conn.execute(sa.text(f'create database "{name}" template "{args.template}"'))  # noqa: S608 — our own name
    url = args.server.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    os.environ["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] = "full"  # a failure's cause, in this report
    engine = create_db_engine(url)
    try:
        migrate(engine)  # the template may predate later migrations
        accounts = []
        for i in range(args.sessions):
            role = "user" if i % 3 == 2 else "admin"
            uid = create_user(engine, email=f"load{i}@example.com", password="load test password", role=role, rounds=4)
            accounts.append((uid, role))
        result = _run(accounts, args.seconds)
        _report(args, result, _check(engine))
    finally:
        engine.dispose()
        with maintenance.connect() as conn:
            conn.execute(
                sa.text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :d"), {"d": name}
            )
            conn.execute(sa.text(f'drop database if exists "{name}"'))  # noqa: S608 — our own name
    return 0


def _serialise_page_compiles() -> None:
    """CPython 3.11.7's ast.parse is not safe in two threads at once ("AST constructor recursion depth
    mismatch", fixed in later releases). A real server compiles each page once into its script cache;
    each AppTest here compiles for itself, all the time, so the harness takes turns on a lock."""
    import streamlit.runtime.scriptrunner.magic as magic

    lock, add_magic = threading.Lock(), magic.add_magic

    def one_at_a_time(code: str, script_path: str):
        with lock:
            return add_magic(code, script_path)

    magic.add_magic = one_at_a_time


def _run(accounts, seconds):
    from streamlit.testing.v1 import AppTest

    _serialise_page_compiles()

    timings: dict[str, list[float]] = {p: [] for p in PAGES}
    errors: Counter = Counter()
    misses: Counter = Counter()
    saves: list[tuple] = []
    conflicts = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    held = Counter()

    def session(index: int, user_id, role: str) -> None:
        rng = random.Random(index)
        at = AppTest.from_file(str(REPO / "dashboard" / "ui" / "app.py"), default_timeout=120)
        at.session_state["_dashboard_user_id"] = user_id
        at.session_state["_dashboard_last_seen"] = time.time()
        try:
            at.run()
        except Exception as exc:  # noqa: BLE001 — counted and reported
            with lock:
                errors[f"start: {type(exc).__name__}"] += 1
            return
        with lock:
            held["sessions"] += 1
        pages = PAGES if role == "admin" else ["models", "defaults"]
        while time.monotonic() < deadline:
            page = rng.choice(pages)
            at.session_state["_dashboard_last_seen"] = time.time()
            try:
                started = time.perf_counter()
                _visit(at, page, rng)
                elapsed = time.perf_counter() - started
                if at.exception:
                    with lock:
                        trace = [line.strip() for line in at.exception[0].stack_trace if line.strip()]
                        errors[f"{page}: {(trace[-1] if trace else at.exception[0].message)[:150]}"] += 1
                    continue
                with lock:
                    timings[page].append(elapsed)
                if page == "model_editor" and role == "admin":
                    outcome = _save(at, rng)
                    with lock:
                        conflicts[outcome] += 1
                        if outcome == "saved":
                            saves.append((user_id, at.query_params.get("id")))
            except KeyError as exc:  # the harness looked for a widget the page did not draw this time
                with lock:
                    misses[f"{page}: no widget {exc}"] += 1
            except Exception as exc:  # noqa: BLE001 — counted and reported
                with lock:
                    errors[f"{page}: {type(exc).__name__}: {str(exc)[:80]}"] += 1

    threads = [threading.Thread(target=session, args=(i, uid, role)) for i, (uid, role) in enumerate(accounts)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "timings": timings,
        "errors": errors,
        "misses": misses,
        "saves": saves,
        "outcomes": conflicts,
        "held": held["sessions"],
        "wall": time.monotonic() - started,
    }


def _visit(at, page: str, rng: random.Random) -> None:
    if page == "model_editor":
        import sqlalchemy as sa

        from dashboard.ui.context import context  # noqa: F401 — the app's own engine is in the session

        ids = at.session_state["_load_model_ids"] if "_load_model_ids" in at.session_state else None
        if ids is None:
            from dashboard.database import create_db_engine

            with create_db_engine(os.environ["DATABASE_URL"]).connect() as conn:
                ids = [str(i) for i in conn.execute(sa.text("select id from api_models")).scalars()]
            at.session_state["_load_model_ids"] = ids
        at.query_params["id"] = rng.choice(ids)
        at.switch_page("../../pages/model_editor.py").run()
        return
    at.switch_page(f"../../pages/{page}.py").run()
    if page == "models" and rng.random() < 0.5:
        at.text_input(key="f_search").input(rng.choice(["flux", "sdxl", "whisper", "gpt", "x"])).run()
    if page == "usage" and rng.random() < 0.5:
        at.segmented_control(key="u_range").set_value(rng.choice(["24h", "7d", "90d", "all"])).run()


def _save(at, rng: random.Random) -> str:
    priority = at.number_input(key="ed_priority")
    priority.set_value(rng.randint(1, 9)).run()
    at.button(key="save").click().run()
    said = " ".join(str(e.value) for kind in ("success", "error", "info") for e in getattr(at, kind))
    if "Someone else saved this model" in said:
        return "conflict (refused, shown)"
    if "Saved " in said:
        return "saved"
    if "Nothing to save" in said:
        return "no change"
    return "other"


def _check(engine) -> dict[str, str]:
    import pandas as pd
    import sqlalchemy as sa

    from dashboard.queries import models as q
    from dashboard.services import ModelService

    checks = {}
    with engine.connect() as conn:
        doubles = conn.execute(
            sa.text(
                "select count(*) from (select 1 from api_models where is_default group by modality, task "
                "having count(*) > 1) d"
            )
        ).scalar_one()
        checks["one default per slot"] = "PASS" if doubles == 0 else f"FAIL ({doubles} slots)"
        seed = pd.DataFrame(conn.execute(q.USAGE_STATS).all(), columns=q.USAGE_COLUMNS)
        plain = conn.execute(
            sa.text(
                "select count(*) from dashboard.audit_log a join user_roles r on r.user_id = a.actor_id "
                "where r.role = 'user' and not exists (select 1 from user_roles x where x.user_id = a.actor_id "
                "and x.role = 'admin')"
            )
        ).scalar_one()
        checks["nothing written by a plain user"] = "PASS" if plain == 0 else f"FAIL ({plain} entries)"
        audited = conn.execute(
            sa.text("select count(*) from dashboard.audit_log where actor_id is not null and action = 'update'")
        ).scalar_one()
    seed["avg_quality_rating"] = pd.to_numeric(seed["avg_quality_rating"]).astype(float)
    ours = ModelService(engine, user_id="service_role").usage_stats()
    key = ["display_name", "provider_name"]
    same = ours.sort_values(key).reset_index(drop=True).equals(seed.sort_values(key).reset_index(drop=True))
    checks["usage equals the seed's query"] = "PASS" if same else "FAIL"
    checks["_audited_updates"] = str(audited)
    return checks


def _report(args, result, checks) -> None:
    every = sorted(t for times in result["timings"].values() for t in times)
    print(
        f"# Load test, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.sessions} sessions for {args.seconds} s "
        f"on a copy of {args.template}, {os.cpu_count()} cores"
    )
    print(
        f"sessions held: {result['held']} of {args.sessions}; page runs: {len(every):,} "
        f"({len(every) / result['wall']:.1f} per second)"
    )
    if every:
        p95 = every[int(len(every) * 0.95) - 1]
        print(
            f"page time: median {statistics.median(every) * 1000:.0f} ms, 95th percentile {p95 * 1000:.0f} ms, "
            f"worst {every[-1] * 1000:.0f} ms"
        )
    print("\n| Page | Runs | Median | Worst |\n|---|---|---|---|")
    for page, times in result["timings"].items():
        if times:
            print(f"| {page} | {len(times)} | {statistics.median(times) * 1000:.0f} ms | {max(times) * 1000:.0f} ms |")
    print(f"\nsaves: {dict(result['outcomes'])}; audited updates by people: {checks.pop('_audited_updates')}")
    print(f"errors: {sum(result['errors'].values())}" + "".join(f"\n  {k}: {v}" for k, v in result["errors"].items()))
    if result["misses"]:
        print(
            "clicks the harness skipped (the widget was not on the page at that moment): "
            + ", ".join(f"{k}: {v}" for k, v in result["misses"].items())
        )
    for name, outcome in checks.items():
        print(f"{outcome:<5} {name}")


if __name__ == "__main__":
    raise SystemExit(main())
