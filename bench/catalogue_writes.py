"""What the catalogue change log (migration 0021) costs a catalogue write: two databases, migrated up to 0020 and
up to 0021, each with 1,000 models, written alternately.

    python -m bench.catalogue_writes [--server URL] [--rounds 5]

Per round and database: 500 single-row updates of api_models, each its own transaction (the audit row included, as
every write pays it), then one update of all 1,000 rows. Prints each round's figures and the medians. A script
you run by hand, not a test; nothing else should run on the machine meanwhile. It drops its two databases after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from dashboard.database import create_db_engine
from db.migrate import load_migrations, migrate

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MODELS = 1_000
SINGLE = 500


def _url(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def build(server: str, name: str, upto: str) -> str:
    with psycopg.connect(_conninfo(server), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = _url(server, name)
    engine = create_db_engine(url)
    migrate(engine, [m for m in load_migrations() if m.version <= upto])
    engine.dispose()
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        provider = conn.execute("insert into api_providers (name, display_name) values ('p', 'P') returning id")
        conn.execute(
            "insert into api_models (provider_id, model_key, display_name, modality, task) "
            "select %s, 'k/' || g, 'M ' || g, 'image', 'generation' from generate_series(1, %s) g",
            (provider.fetchone()[0], MODELS),
        )
    return url


def single_row_us(url: str) -> float:
    """Microseconds per single-row update, each in its own transaction."""
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        ids = [row[0] for row in conn.execute("select id from api_models order by id limit 200")]
        started = time.perf_counter()
        for n in range(SINGLE):
            conn.execute("update api_models set priority = priority + 1 where id = %s", (ids[n % len(ids)],))
        return (time.perf_counter() - started) / SINGLE * 1e6


def every_row_ms(url: str) -> float:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("update api_models set priority = priority + 1")
        return (time.perf_counter() - started) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catalogue_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    databases = {"0020": "bench_catalogue_writes_0020", "0021": "bench_catalogue_writes_0021"}
    urls = {upto: build(args.server, name, upto) for upto, name in databases.items()}
    single: dict[str, list[float]] = {upto: [] for upto in urls}
    bulk: dict[str, list[float]] = {upto: [] for upto in urls}
    try:
        for _ in range(args.rounds):
            for upto, url in urls.items():  # alternately, so that the machine's drift falls on both
                single[upto].append(single_row_us(url))
                bulk[upto].append(every_row_ms(url))
        for upto in urls:
            print(
                f"migrated to {upto}: single-row update {statistics.median(single[upto]):.0f} us "
                f"({', '.join(f'{v:.0f}' for v in single[upto])}); all {MODELS:,} rows "
                f"{statistics.median(bulk[upto]):.1f} ms ({', '.join(f'{v:.1f}' for v in bulk[upto])})"
            )
    finally:
        with psycopg.connect(_conninfo(args.server), autocommit=True) as conn:
            for name in databases.values():
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
