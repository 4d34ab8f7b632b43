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
    python -m bench.capture_shapes --real             # the database's own triggers, on against off

With --real, the shapes are the migrations' own triggers on public.jobs, switched on and off in turn, and the
writes are single-row inserts by the job's owner and status updates by service_role, each either a bare
autocommitted statement or API-style: one transaction that first sets the caller's role and claims, as
Supabase's API does for every request (the shape of the platform's own writes).

The database's own usage triggers are switched off during the run (the shapes write to a scratch table) and
switched back on at the end; every job the run inserts is deleted again.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
import sqlalchemy as sa
from psycopg import sql

from bench.usage_bench import ACT_AS, DEFAULT_SERVER, database_url, drop_database, libpq_url, say
from dashboard.database import SERVICE_ROLE, create_db_engine, role_and_claims
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
    parser.add_argument("--real", action="store_true", help="the database's own triggers on against off")
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

            if args.real:
                real_triggers(ctl, writer, cpu, user, models, args.rounds, args.ops)
                return 0
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


_UPDATE = "update public.jobs set status = %s where id = %s"
_USAGE_TRIGGERS = ("dashboard_job_usage_insert", "dashboard_job_usage_update", "dashboard_job_usage_delete")


def real_triggers(ctl, writer, cpu, user, models, rounds: int, ops: int) -> None:
    """Backend CPU per single-row write with the usage triggers on and off, interleaved by round."""
    owner, worker = role_and_claims(user), role_and_claims(SERVICE_ROLE)
    pool = [r[0] for r in ctl.execute("select id from public.jobs where status = 'completed' limit %s", (ops,))]

    def switch(on: bool) -> None:
        for name in _USAGE_TRIGGERS:
            verb = sql.SQL("enable" if on else "disable")
            ctl.execute(sql.SQL("alter table public.jobs {} trigger {}").format(verb, sql.Identifier(name)))

    def timed(run) -> float:
        for _ in range(5):  # untimed: the session plans and compiles first
            run(0)
        before = cpu()
        for i in range(ops):
            run(i)
        return (cpu() - before) / ops

    def write(sql: str, params: tuple, act_as) -> None:
        if act_as is None:
            writer.execute(sql, params)
        else:
            with writer.transaction():
                writer.execute(ACT_AS, act_as)
                writer.execute(sql, params)

    cases = {
        "insert, bare": lambda i: write(_INSERT, (user, models[i % len(models)]), None),
        "insert, API-style": lambda i: write(_INSERT, (user, models[i % len(models)]), owner),
        "status update, bare": lambda i: write(_UPDATE, ("failed" if i % 2 else "processing", pool[i]), None),
        "status update, API-style": lambda i: write(_UPDATE, ("failed" if i % 2 else "processing", pool[i]), worker),
    }
    results = {(case, on): [] for case in cases for on in (False, True)}
    started = time.perf_counter()
    for round_no in range(rounds):
        for on in (False, True) if round_no % 2 == 0 else (True, False):
            switch(on)
            for case, run in cases.items():
                results[case, on].append(timed(run))
                ctl.execute("delete from public.jobs where user_id = %s and status = 'queued'", (user,))
                ctl.execute("update public.jobs set status = 'completed' where id = any(%s)", (pool,))
    switch(True)
    seconds = time.perf_counter() - started
    say(f"{rounds} rounds x {ops} single-row writes per case, triggers on and off, {seconds:.0f} s")
    for case in cases:
        off, on = results[case, False], results[case, True]
        base, with_ = statistics.median(off), statistics.median(on)
        paired = statistics.median(a / b - 1 for a, b in zip(on, off, strict=True))
        say(
            f"  {case:25s} backend CPU: off {base * 1e6:6.1f} µs, on {with_ * 1e6:6.1f} µs "
            f"({(with_ - base) * 1e6:+5.1f} µs, {with_ / base - 1:+6.1%}; paired rounds {paired:+6.1%})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
