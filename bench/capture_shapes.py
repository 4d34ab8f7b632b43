"""What one single-row INSERT into jobs costs the server with each shape of usage capture, measured as the writer's
backend CPU (not wall time: on this machine a commit's flush to disk varies by more than the trigger costs).

Shapes, each installed in turn on the same table and interleaved (alternating the order every round):
  off         no capture
  row         a row trigger: one plain INSERT of the job into the delta table (migration 0013)
  row_noset   the same without `SET search_path = ''` (what Supabase's advisor asks of every function)
  stmt_group  a statement trigger that always groups its transition table (one delta per model, status, hour
              and rating): what a bulk statement needs
  stmt_plain  a statement trigger that appends its transition table's rows as they are
  stmt        migration 0015: plain up to 16 rows, grouped beyond

    python -m bench.capture_shapes --jobs 300000      # builds bench_capture_<N>, dropped at the end

The database's own usage triggers are switched off during the run (the shapes write to a scratch table) and
switched back on at the end; every job the run inserts is deleted again.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
import sqlalchemy as sa

from bench.usage_bench import DEFAULT_SERVER, database_url, drop_database, libpq_url, say
from dashboard.database import create_db_engine
from dashboard.demo import seed_demo
from db.migrate import migrate

# Each shape is (trigger DDL, function body); the function writes to bench_capture.delta (the 0015 delta shape).
_SETUP = """
create schema if not exists bench_capture;
create table if not exists bench_capture.delta (like dashboard.job_usage_delta including defaults);
"""
_ROW = """
insert into bench_capture.delta (api_model_id, status, created_at, quality_rating)
values (new.api_model_id, new.status::text, new.created_at, new.quality_rating)"""
_PLAIN = """
insert into bench_capture.delta (api_model_id, status, created_at, quality_rating)
select t.api_model_id, t.status::text, t.created_at, t.quality_rating
from new_jobs t where t.api_model_id is not null"""
_GROUP = """
insert into bench_capture.delta (api_model_id, status, created_at, quality_rating, jobs)
select t.api_model_id, t.status::text, pg_catalog.date_trunc('hour', t.created_at, 'UTC'), t.quality_rating::integer,
       pg_catalog.count(*)
from new_jobs t where t.api_model_id is not null group by 1, 2, 3, 4"""
_BRANCH = (
    "declare rows_in_statement bigint; begin "  # noqa: S608 — constants of this file
    "select pg_catalog.count(*) into rows_in_statement from new_jobs; "
    "if rows_in_statement <= 16 then " + _PLAIN + "; else " + _GROUP + "; end if; return null; end"
)
_ROW_TRIGGER = (
    "create trigger bench_capture after insert on public.jobs for each row when (new.api_model_id is not null) "
    "execute function bench_capture.{name}()"
)
_STATEMENT_TRIGGER = (
    "create trigger bench_capture after insert on public.jobs referencing new table as new_jobs "
    "for each statement execute function bench_capture.{name}()"
)
SHAPES = {  # name: (trigger, body, set search_path)
    "row": (_ROW_TRIGGER, f"begin {_ROW}; return null; end", True),
    "row_noset": (_ROW_TRIGGER, f"begin {_ROW}; return null; end", False),
    "stmt_group": (_STATEMENT_TRIGGER, f"begin {_GROUP}; return null; end", True),
    "stmt_plain": (_STATEMENT_TRIGGER, f"begin {_PLAIN}; return null; end", True),
    "stmt": (_STATEMENT_TRIGGER, _BRANCH, True),
}
_INSERT = "insert into public.jobs (user_id, api_model_id, status) values (%s, %s, 'queued')"


def install(pg: psycopg.Connection) -> None:
    pg.execute(_SETUP)
    for name, (_, body, set_path) in SHAPES.items():
        path = "set search_path = ''" if set_path else ""
        pg.execute(
            f"create or replace function bench_capture.{name}() returns trigger language plpgsql "  # noqa: S608 — constants
            f"security definer {path} as $b$ {body} $b$"
        )


def use(pg: psycopg.Connection, shape: str) -> None:
    pg.execute("drop trigger if exists bench_capture on public.jobs")
    if shape != "off":
        pg.execute(SHAPES[shape][0].format(name=shape))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--ops", type=int, default=200, help="timed inserts per shape and round (200)")
    args = parser.parse_args()
    name = f"bench_capture_{args.jobs}"
    url = database_url(args.server, name)
    maintenance = create_db_engine(args.server).execution_options(isolation_level="AUTOCOMMIT")
    drop_database(maintenance, name)
    with maintenance.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))  # noqa: S608 — our own name
    engine = create_db_engine(url)
    try:
        migrate(engine)
        seed_demo(engine, jobs=args.jobs, bcrypt_rounds=4)
        with psycopg.connect(libpq_url(url), autocommit=True) as ctl, psycopg.connect(libpq_url(url)) as writer:
            writer.autocommit = True
            user = ctl.execute("select id from auth.users order by email limit 1").fetchone()[0]
            models = [r[0] for r in ctl.execute("select id from api_models order by model_key limit 20")]
            pid = writer.execute("select pg_backend_pid()").fetchone()[0]

            def cpu() -> float:
                with open(f"/proc/{pid}/schedstat") as stat:
                    return int(stat.read().split()[0]) / 1e9

            install(ctl)
            ctl.execute("alter table public.jobs disable trigger user")  # the database's own capture, meanwhile
            shapes = ["off", *SHAPES]
            per_row: dict[str, list[float]] = {s: [] for s in shapes}
            started = time.perf_counter()
            for round_no in range(args.rounds):
                for shape in shapes if round_no % 2 == 0 else shapes[::-1]:
                    use(ctl, shape)
                    for i in range(5):  # untimed: the session compiles the new function first
                        writer.execute(_INSERT, (user, models[i % len(models)]))
                    before = cpu()
                    for i in range(args.ops):
                        writer.execute(_INSERT, (user, models[i % len(models)]))
                    per_row[shape].append((cpu() - before) / args.ops)
                    ctl.execute("delete from public.jobs where user_id = %s and status = 'queued'", (user,))
            use(ctl, "off")
            ctl.execute("alter table public.jobs enable trigger user")
            say(
                f"{args.rounds} rounds x {args.ops} single-row inserts per shape, {time.perf_counter() - started:.0f} s"
            )
            base = statistics.median(per_row["off"])
            for shape in shapes:
                median = statistics.median(per_row[shape])
                paired = statistics.median(a / b - 1 for a, b in zip(per_row[shape], per_row["off"], strict=True))
                say(
                    f"  {shape:11s} backend CPU per insert: median {median * 1e6:6.1f} µs "
                    f"({(median - base) * 1e6:+5.1f} µs, {median / base - 1:+6.1%}; paired rounds {paired:+6.1%})"
                )
    finally:
        engine.dispose()
        drop_database(maintenance, name)
        maintenance.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
