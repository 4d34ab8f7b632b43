"""python -m dashboard: migrate, load demo data, create accounts, report usage."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
from collections.abc import Sequence

from dashboard.database import SERVICE_ROLE, DatabaseUnavailable, check_connection, create_db_engine
from dashboard.services.errors import ServiceError
from dashboard.text import terminal_lines, visible

_ENV_HELP = "Uses DATABASE_URL, or the embedded PostgreSQL when it is not set."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Admin dashboard for the api_models catalogue. " + _ENV_HELP,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    migrate = commands.add_parser(
        "migrate",
        help="apply pending schema migrations",
        description=(
            "Apply pending migrations. On a database whose platform tables exist (a live Supabase project) it adds "
            "only what is its own, in schema dashboard, plus AFTER triggers and the seed's missing indexes (built "
            "concurrently) on those tables, and reports rows that break the seed's rules. " + _ENV_HELP
        ),
    )
    how = migrate.add_mutually_exclusive_group()
    how.add_argument(
        "--plan",
        action="store_true",
        help="say what migrating would create, add to each existing table (with its locks) and never "
        "do, changing nothing",
    )
    how.add_argument(
        "--schedule-fold", action="store_true", help="then have pg_cron fold usage every minute (Supabase has pg_cron)"
    )
    how.add_argument(
        "--sql",
        nargs="?",
        const="-",
        metavar="DIR",
        help="print the SQL instead of running it (or write it to DIR as files for supabase/migrations, "
        "one per step that must run on its own)",
    )
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser(
        "seed-demo",
        help="load demo providers, models, accounts and jobs",
        description=(
            "Migrate, then fill an empty catalogue with demo providers, models, an admin and a user account "
            "(passwords printed once) and N jobs. " + _ENV_HELP
        ),
    )
    demo.add_argument("--jobs", type=_count, default=None, metavar="N", help="how many jobs (default 50,000)")
    demo.add_argument("--jobs-only", action="store_true", help="only add N jobs to the models already in the catalogue")
    demo.set_defaults(handler=cmd_seed_demo)

    user = commands.add_parser(
        "create-user",
        help="create an account (password read from standard input)",
        description="Create an account with its profile and role. The password is read "
        "from standard input, or prompted for without echo on a terminal. " + _ENV_HELP,
    )
    user.add_argument("--email", required=True)
    user.add_argument("--role", required=True, choices=("admin", "user"))
    user.set_defaults(handler=cmd_create_user)

    reset = commands.add_parser(
        "set-password",
        help="give an existing account a new password (from standard input)",
        description="Set a new password for an existing account, e.g. when the demo "
        "passwords printed at the first start were missed. Read from standard input, or "
        "prompted for without echo on a terminal. " + _ENV_HELP,
    )
    reset.add_argument("--email", required=True)
    reset.set_defaults(handler=cmd_set_password)

    usage = commands.add_parser(
        "usage",
        help="jobs per model, provider, modality or task over a date range",
        description=(
            "Jobs per active model: without options, exactly the seed's usage query. Counts come from rollups kept "
            "by trigger, so they are exact at this moment. Ranges are UTC. " + _ENV_HELP
        ),
    )
    when = usage.add_mutually_exclusive_group()
    when.add_argument(
        "--range",
        choices=("24h", "7d", "30d", "90d", "all"),
        default="all",
        help="jobs created in the last 24 hours, today and the 6/29/89 days before, or all (default)",
    )
    when.add_argument(
        "--from",
        dest="first_day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="first day of the range (with --to; both days included)",
    )
    usage.add_argument("--to", dest="last_day", type=_day, metavar="YYYY-MM-DD", help="last day of the range")
    usage.add_argument(
        "--group-by",
        choices=("model", "provider", "modality", "task"),
        default=None,
        help="sum per provider, modality or task, with failure rate and average rating",
    )
    usage.add_argument("--include-inactive", action="store_true", help="count inactive models too")
    usage.add_argument("--format", choices=("table", "csv"), default="table")
    usage.add_argument("--fold", action="store_true", help="first fold pending job changes into the rollups")
    usage.add_argument(
        "--rebuild",
        action="store_true",
        help=(
            "first recount the rollups from jobs (after a bulk load made with triggers disabled); holds writes "
            "to jobs while it counts"
        ),
    )
    usage.set_defaults(handler=cmd_usage)

    routing = commands.add_parser(
        "routing",
        help="what job routing would pick for a modality and task",
        description=(
            "The seed's routing query for a slot: the model picked, the fallback order, the models left out and why, "
            "and warnings (no candidate, no or unusable default, ties at the top). Exits with 3 when a slot's jobs "
            "cannot be routed. " + _ENV_HELP
        ),
    )
    which = routing.add_mutually_exclusive_group(required=True)
    which.add_argument("--modality", help="with --task: one slot")
    which.add_argument("--all", action="store_true", help="every modality and task in the catalogue")
    routing.add_argument("--task", help="the task, e.g. generation")
    routing.add_argument("--format", choices=("text", "json"), default="text")
    routing.set_defaults(handler=cmd_routing)

    health = commands.add_parser(
        "health",
        help="is each routed slot's model failing, stuck, slow or rated down right now",
        description=(
            "Every slot's pick and every model with jobs in the window or stuck jobs: jobs, failure rate against the "
            "model's own 7 whole UTC days before the window's day, p50/p95 latency, stuck jobs and ratings, with the "
            "findings worst first. Exits "
            "with 0 when nothing needs attention, 1 when something does and 2 when it could not tell (the database "
            "unreachable) -- for cron and monitoring. Thresholds: "
            "DASHBOARD_HEALTH_* variables (see the README). " + _ENV_HELP
        ),
    )
    health.add_argument(
        "--window",
        choices=("1h", "24h"),
        default="1h",
        help="jobs created since the start of the previous hour (default) or the same hour yesterday",
    )
    health.add_argument("--format", choices=("table", "json"), default="table")
    health.add_argument(
        "--webhook",
        metavar="URL",
        help="post the findings (JSON with a Slack-style text field) here when something needs attention "
        "(default: DASHBOARD_HEALTH_WEBHOOK); a failure to post is reported, not fatal",
    )
    health.set_defaults(handler=cmd_health)

    export = commands.add_parser(
        "export",
        help="write the catalogue as JSON or CSV (what import reads)",
        description=(
            "Write every model (or the filtered ones) with its provider's name. JSON keeps the JSONB fields exactly; "
            "CSV has them as JSON text and is safe to open in a spreadsheet. " + _ENV_HELP
        ),
    )
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", metavar="FILE", help="write here instead of to standard output")
    export.add_argument("--modality")
    export.add_argument("--task")
    export.add_argument("--provider", metavar="NAME", help="a provider's name, e.g. replicate")
    export.add_argument("--active-only", action="store_true")
    export.set_defaults(handler=cmd_export)

    load = commands.add_parser(
        "import",
        help="dry-run (or --apply) a JSON or CSV file of models",
        description=(
            "Upsert models from a file written by export (or by hand), keyed on provider name, model_key and version. "
            "Without --apply: a dry run that says what each row would do (new, changed with the fields, unchanged) and "
            "every problem with its row and field; exits with 1 when there is a problem. With --apply: plan again and "
            "write everything in one transaction, or nothing. " + _ENV_HELP
        ),
    )
    load.add_argument("file", metavar="FILE")
    load.add_argument("--apply", action="store_true", help="write the changes (default: a dry run)")
    load.set_defaults(handler=cmd_import)

    run = commands.add_parser(
        "run",
        help="start the web app",
        description=(
            "Start the web app. Without DATABASE_URL: start the embedded PostgreSQL, migrate, load the demo data on "
            "first start, make sure an admin account exists (printing a generated password once) and listen on "
            "localhost only. With DATABASE_URL: use that server as it is. Options after 'run' go to streamlit, "
            "e.g. python -m dashboard run --server.port 8502."
        ),
    )
    run.set_defaults(handler=cmd_run)
    return parser


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-23") from None


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 100_000_000:
        raise argparse.ArgumentTypeError("must be between 0 and 100,000,000")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "handler", None) is cmd_run:
        args.streamlit_options = extra  # everything after "run" is streamlit's
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except (DatabaseUnavailable, ServiceError) as exc:
        print(f"error: {visible(exc)}", file=sys.stderr)  # messages quote files and the database
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter from failing at exit
        return 0


def _engine():
    engine = create_db_engine()
    check_connection(engine)
    return engine


def _migrate(engine, report: list[str] | None = None) -> list[str]:
    """Apply pending migrations; a failure becomes the one-line error every command prints."""
    from dashboard.services.catalogue import rule_findings
    from db.migrate import MigrationError, migrate

    try:
        applied = migrate(engine, report=report)
    except MigrationError as exc:
        raise DatabaseUnavailable(str(exc)) from None
    if report is not None:
        report.extend(rule_findings(engine))
    return applied


def _migrated_engine():
    engine = _engine()
    _migrate(engine)
    return engine


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.plan:
        return _print_plan(_engine())
    if args.sql:
        return _write_sql(_engine(), args.sql)
    report: list[str] = []
    engine = _engine()
    applied = _migrate(engine, report)
    print(f"applied {', '.join(applied)}" if applied else "schema is up to date")
    if args.schedule_fold:
        _schedule_fold(engine)
        report.append("pg_cron folds usage every minute (job dashboard-fold-job-usage)")
    for line in report:
        print(visible(line))  # rows that break the rules are named by what they hold
    return 0


def _schedule_fold(engine) -> None:
    from db.live import NoScheduler, schedule_fold

    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            schedule_fold(conn.connection.driver_connection)
    except NoScheduler as exc:
        raise DatabaseUnavailable(str(exc)) from None


def _print_plan(engine) -> int:
    from db.migrate import migration_plan

    for title, lines in migration_plan(engine):
        print(f"{title}:")
        for line in lines or ["nothing"]:
            print(f"  - {visible(line)}")
    return 0


def _write_sql(engine, target: str) -> int:
    """The SQL on standard output (first part in one transaction), or as supabase/migrations files in a folder."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from db.migrate import migration_sql

    parts = migration_sql(engine)
    if target == "-":
        for part in parts:
            if part.in_transaction:
                print(f"-- {part.name}: in one transaction\nbegin;\n{part.sql}commit;\n")
            else:
                print(f"-- {part.name}: on its own, outside a transaction\n{part.sql}")
        return 0
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC)
    for i, part in enumerate(parts):
        # Supabase's CLI applies each file in its own transaction, in name order; a file holding a single
        # CREATE INDEX CONCURRENTLY is the one way to run that statement through it.
        path = folder / f"{(start + timedelta(seconds=i)).strftime('%Y%m%d%H%M%S')}_{part.name}.sql"
        path.write_text(part.sql, encoding="utf-8")
        print(path)
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from dashboard.demo import DEFAULT_JOBS, CatalogueNotEmpty, add_demo_jobs, seed_demo

    engine = _migrated_engine()
    jobs = DEFAULT_JOBS if args.jobs is None else args.jobs
    if args.jobs_only:
        added = add_demo_jobs(engine, jobs=jobs, progress=_progress)
        print(f"added {added:,} jobs")
        return 0
    try:
        seed_demo(engine, jobs=jobs, progress=_progress, committed=_show_demo)
    except CatalogueNotEmpty as exc:
        print(f"error: {exc} (use --jobs-only to add jobs to it)", file=sys.stderr)
        return 1
    return 0


def _show_demo(result) -> None:
    """Said once the seed is committed, before its fold (the passwords are shown even if the fold is cut short)."""
    print(f"loaded {result.models} models and {result.jobs:,} jobs")
    print("demo accounts (passwords are shown only now):")
    for email, password in result.passwords.items():
        print(f"  {email}  {password}")
    sys.stdout.flush()  # before the fold: a process killed during it has printed them


def _progress(done: int, total: int) -> None:
    end = "\n" if done >= total else ""
    print(f"\rjobs: {done:,} / {total:,}", end=end, file=sys.stderr, flush=True)


def cmd_create_user(args: argparse.Namespace) -> int:
    from dashboard.services.users import create_user

    password = _read_password()
    engine = _migrated_engine()
    user_id = create_user(engine, email=args.email, password=password, role=args.role)
    print(f"created {args.role} {args.email.strip().lower()} ({user_id})")
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    from dashboard.services.users import set_password

    password = _read_password()
    set_password(_migrated_engine(), email=args.email, password=password)
    print(f"new password set for {args.email.strip().lower()}")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise ServiceError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def cmd_usage(args: argparse.Namespace) -> int:
    from dashboard.export import to_csv_bytes
    from dashboard.services.usage import InvalidRange, UsageFilters, UsageRange, UsageService, group_usage
    from dashboard.text import visible_frame

    if (args.first_day is None) != (args.last_day is None):
        raise ServiceError("give both --from and --to (or neither)")
    try:
        if args.first_day:
            period = UsageRange.between_days(args.first_day, args.last_day)
        else:
            period = UsageRange.preset(args.range)
    except InvalidRange as exc:
        raise ServiceError(str(exc)) from None
    engine = _migrated_engine()
    service = UsageService(engine, user_id=SERVICE_ROLE)
    if args.rebuild:
        print(f"recounted {service.rebuild():,} jobs", file=sys.stderr)
    if args.fold:
        print(f"folded {service.fold():,} pending changes", file=sys.stderr)
    if args.group_by is None and not args.include_inactive:
        frame = service.seed_stats(period)
    else:
        per_model = service.by_model(period, UsageFilters(active_only=not args.include_inactive))
        frame = group_usage(per_model, args.group_by or "model")
    if args.format == "csv":
        _write_data(to_csv_bytes(frame).removeprefix(b"\xef\xbb\xbf"))
    elif frame.empty:
        print("no models to report")
    else:
        print(f"jobs created {period.describe()}", file=sys.stderr)
        print(visible_frame(frame).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def cmd_routing(args: argparse.Namespace) -> int:
    import json

    from dashboard.services.routing import RoutingService, preview_as_dict, preview_as_text
    from dashboard.text import json_visible

    if args.modality and not args.task:
        raise ServiceError("give --task with --modality (or --all)")
    service = RoutingService(_migrated_engine(), user_id=SERVICE_ROLE)
    previews = service.preview_all() if args.all else [service.preview(modality=args.modality, task=args.task)]
    if args.format == "json":
        document = json.dumps([preview_as_dict(p) for p in previews], indent=2, default=str, ensure_ascii=False)
        print(json_visible(document))
    else:
        print("\n\n".join(preview_as_text(p) for p in previews) or "the catalogue has no models")
    return 3 if any(p.has_errors for p in previews) else 0


def cmd_health(args: argparse.Namespace) -> int:
    import json

    from dashboard.config import Settings
    from dashboard.services.health import HealthService
    from dashboard.services.health_notify import post_findings, report_as_text
    from dashboard.text import json_visible

    settings = Settings.from_env()
    try:
        report = HealthService(_migrated_engine(), user_id=SERVICE_ROLE).report(
            args.window,
            thresholds=settings.health_thresholds,
            keep_copies=False,  # one report, then the process ends
        )
    except (DatabaseUnavailable, ServiceError) as exc:  # 2: health unknown, not "needs attention" (1)
        print(f"error: {visible(exc)}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json_visible(json.dumps(report.as_json(), indent=2, ensure_ascii=False)))
    else:
        print(report_as_text(report))
    url = args.webhook or settings.health_webhook
    if url and report.needs_attention:
        problem = post_findings(url, report)
        if problem:
            print(f"warning: {visible(problem)}", file=sys.stderr)
    return 1 if report.needs_attention else 0


def cmd_export(args: argparse.Namespace) -> int:
    from dashboard.services.transfer import TransferService, to_csv, to_json

    rows = TransferService(_migrated_engine(), user_id=SERVICE_ROLE).export_rows(
        modality=args.modality, task=args.task, provider=args.provider, active_only=args.active_only
    )
    data = to_json(rows).encode("utf-8") if args.format == "json" else to_csv(rows)
    if args.output:
        with open(args.output, "wb") as file:
            file.write(data)
        print(f"wrote {len(rows):,} models to {args.output}", file=sys.stderr)
    else:
        _write_data(data)
    return 0


def _write_data(data: bytes) -> None:
    """An export on standard output: exact for a pipe or a file; on a terminal, hidden characters are shown as
    escapes (JSON has them escaped already; a CSV cell could otherwise move the cursor or clear a line)."""
    if sys.stdout.isatty():
        sys.stdout.write(terminal_lines(data.decode("utf-8-sig")))
        sys.stdout.flush()
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)


def cmd_import(args: argparse.Namespace) -> int:
    from dashboard.services.transfer import ImportRefused, TransferService, describe_plan

    try:
        with open(args.file, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ServiceError(f"cannot read {args.file}: {exc.strerror}") from None
    service = TransferService(_migrated_engine(), user_id=SERVICE_ROLE)
    try:
        plan = service.apply(data, args.file) if args.apply else service.plan(data, args.file)
    except ImportRefused as exc:
        raise ServiceError(f"{args.file}: {exc}") from None
    print(describe_plan(plan, applied=args.apply))
    return 0 if plan.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    from dashboard.config import Settings
    from dashboard.starting import prepare_embedded, streamlit_command

    settings = Settings.from_env()
    embedded = settings.database_url is None
    engine = _migrated_engine()
    if embedded:
        prepare_embedded(engine, progress=_progress)
        if any(option.startswith("--server.address") for option in args.streamlit_options):
            print("On the embedded database the app listens on localhost only; --server.address was ignored.")
    engine.dispose()
    from streamlit.web import cli as streamlit_cli

    from dashboard.starting import REPO

    os.chdir(REPO)  # .streamlit/config.toml and secrets.toml are read from the working folder
    sys.argv = streamlit_command(list(args.streamlit_options), localhost_only=embedded)
    # The web server stops gracefully on SIGTERM, then raises the signal again with the handler it found: the
    # default one would end the process at once, before the embedded PostgreSQL is stopped at exit. Exit instead.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    return streamlit_cli.main()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
