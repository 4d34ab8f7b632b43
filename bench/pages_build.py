"""The pages benchmark's database: the demo catalogue grown to N models through the import path, and M jobs.

How it is built, in one database per size (kept, and reused while its build mark is there):
  1. migrate, then `seed_demo(jobs=0)`: the demo's 6 providers, 32 models, admin and viewer accounts, customers;
  2. 24 more providers through `ProviderService.create_provider` (as the demo admin);
  3. N - 32 more models through `TransferService.apply` (the Import page's path, as the demo admin, in files of
     2,000 rows): variants of the demo's models spread over 13 demo slots and 10 more, image/generation the
     biggest (13%), 85% active, priorities 1-60, no new default, providers weighted (a few carry most);
  4. M jobs with `add_demo_jobs` (COPY), loaded with the usage triggers off, then `recount_job_usage()` and
     `vacuum analyze`: the rollups exact and nothing pending, as seed-demo leaves them after its fold.
     By default the jobs are loaded before step 3, so they fall on the demo's 32 models (the demo's popularity);
     with spread=True after it, so every model gets jobs (the demo's models by their popularity, the others 1 each).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine, make_url

from bench.usage_bench import set_row_triggers
from dashboard.database import create_db_engine
from dashboard.demo import add_demo_jobs, seed_demo
from dashboard.queries import usage as usage_queries
from dashboard.services.providers import ProviderService
from dashboard.services.transfer import TransferService, to_json
from dashboard.services.users import create_user, set_password

BUILD_MARK = "pages benchmark database, complete build:"
BENCH_ADMIN = "pages-bench@example.com"
FILE_ROWS = 2_000
_SEED = 15
# Slot shares of the generated models: image/generation about 1,300 of 10,000, as the issue measured.
SLOT_SHARES = {
    ("image", "generation"): 13,
    ("text", "generation"): 10,
    ("video", "generation"): 8,
    ("audio", "tts"): 7,
    ("image", "upscale"): 5,
    ("image", "inpainting"): 5,
    ("text", "embedding"): 5,
    ("image", "background-removal"): 4,
    ("video", "image-to-video"): 4,
    ("audio", "transcription"): 4,
    ("audio", "music"): 3,
    ("text", "classification"): 3,
    ("text", "summarization"): 2,
    # Tasks the demo has no model for: variants of a model of the same modality, task renamed.
    ("image", "image-to-image"): 4,
    ("image", "segmentation"): 2,
    ("image", "style-transfer"): 2,
    ("text", "translation"): 4,
    ("text", "code"): 3,
    ("text", "reranking"): 2,
    ("video", "upscale"): 2,
    ("video", "lipsync"): 2,
    ("audio", "voice-cloning"): 2,
    ("audio", "sound-effects"): 2,
}
EXTRA_PROVIDERS = (
    "together fireworks groq deepinfra stability anthropic mistral vertex bedrock azure cohere huggingface "
    "modal baseten octo lepton perplexity luma pika kling minimax suno assembly deepgram"
).split()

Say = Callable[[str], None]


@dataclass(frozen=True)
class Size:
    models: int
    jobs: int
    spread: bool

    @property
    def database(self) -> str:
        return f"bench_pages_{self.models}m_{self.jobs}j" + ("_spread" if self.spread else "")

    def describe(self) -> str:
        where = "spread over every model" if self.spread else "on the demo's 32 models"
        return f"{self.models:,} models, {self.jobs:,} jobs ({where})"


def database_url(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


def _admin_connection(server: str) -> psycopg.Connection:
    url = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def build_mark(server: str, size: Size) -> str | None:
    """The mark a complete build leaves on its database (None: absent or unfinished)."""
    with _admin_connection(server) as conn:
        row = conn.execute(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = %s", (size.database,)
        ).fetchone()
    mark = row[0] if row else None
    return mark if mark and mark.startswith(BUILD_MARK) else None


def ensure_database(server: str, size: Size, *, rebuild: bool, say: Say) -> str:
    """The benchmark database's URL: built now unless a complete build is there (and rebuild is off)."""
    url = database_url(server, size.database)
    mark = None if rebuild else build_mark(server, size)
    if mark:
        say(f"Reusing {size.database} ({mark.removeprefix(BUILD_MARK).strip()}); --rebuild builds it again")
        from db.migrate import MigrationError, migrate

        engine = create_db_engine(url)
        try:
            migrate(engine)  # a kept database measures the current schema
        except MigrationError as exc:
            raise SystemExit(f"{size.database} cannot be migrated ({exc}); build it again with --rebuild") from None
        finally:
            engine.dispose()
        return url
    say(f"Building {size.database}: {size.describe()}")
    started = time.perf_counter()
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(size.database)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(size.database)))
    engine = create_db_engine(url)
    try:
        _fill(engine, size, say, started)
    finally:
        engine.dispose()
    took = time.perf_counter() - started
    stamp = f"{BUILD_MARK} {size.describe()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, took {took:.0f} s"
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("comment on database {} is {}").format(sql.Identifier(size.database), sql.Literal(stamp)))
    say(f"  built in {took:.0f} s")
    return url


def _fill(engine: Engine, size: Size, say: Say, started: float) -> None:
    from db.migrate import migrate

    def lap(what: str) -> None:
        say(f"  {what} ({time.perf_counter() - started:.0f} s)")

    migrate(engine)
    seed_demo(engine, jobs=0, bcrypt_rounds=4)
    create_user(engine, email=BENCH_ADMIN, password=random_password(), role="admin", rounds=4)
    admin = admin_id(engine)
    lap("migrated; demo catalogue and accounts")
    add_providers(engine, admin)
    if not size.spread:
        load_jobs(engine, size.jobs, say, lap)
    add_models(engine, admin, size.models, say=say)
    lap(f"{size.models:,} models")
    if size.spread:
        load_jobs(engine, size.jobs, say, lap)
    with engine.begin() as conn:
        counted = conn.execute(usage_queries.REBUILD).scalar_one()
    lap(f"recount_job_usage(): {counted:,} jobs counted")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("vacuum analyze"))
    lap("vacuum analyze")


def load_jobs(engine: Engine, jobs: int, say: Say, lap: Callable[[str], None]) -> None:
    """add_demo_jobs with the usage triggers off (the rollups are rebuilt afterwards, exactly)."""
    with engine.begin() as conn:
        set_row_triggers(conn, False)
    step, shown = max(jobs // 10, 1), [0]

    def progress(done: int, total: int) -> None:
        if done - shown[0] >= step or done == total:
            shown[0] = done
            lap(f"{done:,} / {total:,} jobs")

    try:
        add_demo_jobs(engine, jobs=jobs, progress=progress)
    finally:
        with engine.begin() as conn:
            set_row_triggers(conn, True)


def random_password() -> str:
    import secrets

    return secrets.token_urlsafe(16)


def admin_id(engine: Engine) -> UUID:
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from auth.users where email = :e"), {"e": BENCH_ADMIN}).scalar_one()


def reset_admin_password(engine: Engine) -> str:
    """A new password for the bench's admin, for this run's browser sign-in (cost 4: signing in stays cheap)."""
    password = random_password()
    set_password(engine, email=BENCH_ADMIN, password=password, rounds=4)
    return password


def add_providers(engine: Engine, admin: UUID) -> None:
    service = ProviderService(engine, user_id=admin)
    for n, name in enumerate(EXTRA_PROVIDERS):
        service.create_provider(
            {
                "name": name,
                "display_name": name.capitalize(),
                "base_url": f"https://api.{name}.example/v1",
                "auth_scheme": ("bearer", "api_key_header", "key")[n % 3],
                "is_active": n % 8 != 7,  # 3 of 24 inactive
            }
        )


def generated_models(templates: list[dict], providers: list[str], count: int) -> list[dict]:
    """count variants of the demo's models, as rows of an import file (deterministic)."""
    rng = random.Random(_SEED)
    by_modality: dict[str, list[dict]] = {}
    by_slot: dict[tuple[str, str], list[dict]] = {}
    for t in templates:
        by_modality.setdefault(t["modality"], []).append(t)
        by_slot.setdefault((t["modality"], t["task"]), []).append(t)
    slots = list(SLOT_SHARES)
    shares = [SLOT_SHARES[s] for s in slots]
    provider_weights = [1 / (1 + n) ** 0.8 for n in range(len(providers))]  # a few providers carry most
    rows = []
    for n in range(count):
        modality, task = rng.choices(slots, shares)[0]
        template = rng.choice(by_slot.get((modality, task)) or by_modality[modality])
        family = template["model_family"] or template["display_name"].split()[0]
        rows.append(
            {
                **{k: template[k] for k in ("endpoint_path", "input_defaults", "capabilities", "output_format")},
                "pricing": template["pricing"],
                "provider": rng.choices(providers, provider_weights)[0],
                "model_key": f"{template['model_key'].split(':')[0]}-v{n}",
                "version": f"{1 + n % 4}.{n % 10}",
                "display_name": f"{family} {task} {n:05d}",
                "modality": modality,
                "task": task,
                "model_family": template["model_family"],
                "is_active": rng.random() < 0.85,
                "is_default": False,
                "priority": rng.randint(1, 60),
            }
        )
    return rows


def add_models(engine: Engine, admin: UUID, total: int, *, say: Say) -> None:
    """Grow the catalogue to total models through the import path, FILE_ROWS rows a file."""
    service = TransferService(engine, user_id=admin)
    existing = service.export_rows()
    providers = [p["name"] for p in ProviderService(engine, user_id=admin).list_providers()]
    rows = generated_models(existing, sorted(providers), max(total - len(existing), 0))
    for first in range(0, len(rows), FILE_ROWS):
        chunk = rows[first : first + FILE_ROWS]
        service.apply(to_json(chunk).encode(), "models.json")
        say(f"    imported {first + len(chunk):,} / {len(rows):,} models")
