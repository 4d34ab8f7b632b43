"""Every page at 10,000 models and 10M jobs: server runs warm and cold in AppTest, the main journeys in Chromium.

    python -m bench.pages_bench                       # 10,000 models, 10,000,000 jobs on the demo's models
    python -m bench.pages_bench --spread              # the same with jobs spread over every model
    python -m bench.pages_bench --quick               # 1,000 models, 100,000 jobs: does the script work?

It builds its database once (bench/pages_build.py says how) and reuses it while it is complete (--rebuild builds
it again). Then, signed in as an admin: every page in AppTest (bench/pages_apptest.py), warm and cold, median of
--runs; then the main journeys in headless Chromium (bench/pages_browser.py), click to settled, bytes received
and DOM nodes per click. It prints the issue's table with these figures, then every view and step. It is a
script you run by hand, not a test; nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.pages_build import BENCH_ADMIN, Size, admin_id, ensure_database, reset_admin_password

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
GROUPS = (
    "Sign in (a page load)",
    "Usage (range x grouping views)",
    "Routing preview, image/generation",
    "Routing, All slots",
    "Models (search, sorts, 200 rows, page 20)",
    "Model editor open",
    "Overview",
    "Health",
    "History",
    "Defaults",
    "Providers",
    "Import and export",
    "Sessions",
)
TARGET_SERVER, TARGET_BROWSER, TARGET_BYTES = 0.300, 1.0, 300 * 1024


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--spread", action="store_true", help="jobs spread over every model (default: the demo's)")
    parser.add_argument("--quick", action="store_true", help="1,000 models and 100,000 jobs")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per view, warm and cold (default 5)")
    parser.add_argument("--rebuild", action="store_true", help="build the database again even if it is complete")
    parser.add_argument(
        "--only", default="", help="only the AppTest views whose name contains this text (the journey runs whole)"
    )
    parser.add_argument("--no-apptest", action="store_true", help="skip the AppTest runs")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium journeys")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.jobs = 1_000, 100_000
    size = Size(models=args.models, jobs=args.jobs, spread=args.spread)
    started = time.perf_counter()

    url = ensure_database(args.server, size, rebuild=args.rebuild, say=say)
    os.environ["DATABASE_URL"] = url  # the app in AppTest reads it
    os.environ["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] = "full"  # a failing page's cause, in this report
    from dashboard.database import create_db_engine

    engine = create_db_engine(url)
    admin = admin_id(engine)
    password = reset_admin_password(engine)  # before any session starts: a new password ends the old ones
    header = _header(url, size, args.runs)
    say(header)

    measured = []
    if not args.no_apptest:
        from bench import pages_apptest

        chosen = [v for v in pages_apptest.views() if args.only.lower() in f"{v.group} {v.name}".lower()]
        facts = pages_apptest.facts_of(engine)
        say(f"\nAppTest, {len(chosen)} views, {args.runs} warm and {args.runs} cold runs each:")
        measured = pages_apptest.measure(engine, admin, facts, chosen, runs=args.runs, say=say)
        models_page = min(20, facts.models_pages_at_200)
    else:
        models_page = min(20, max(1, -(-size.models // 200)))

    passes = []
    if not args.no_browser:
        from bench import pages_browser

        if pages_browser.available():
            say("\nChromium, the main journeys twice (pass 1: a fresh server's first visits; pass 2: a new tab):")
            passes = pages_browser.run_journeys(
                url, email=BENCH_ADMIN, password=password, models_page=models_page, say=say
            )
        else:
            say(f"\nNo Chromium at {pages_browser.CHROMIUM}: the browser columns are empty (apt-get install chromium)")

    engine.dispose()
    say("")
    say(header)
    say(summary(measured, passes))
    say(details(measured, passes))
    say(f"\nWhole run: {time.perf_counter() - started:.0f} s.")
    failed = [m.view.name for m in measured if m.error] + [t.step.name for p in passes for t in p if t.error]
    if failed:
        say("Not measured (see above): " + "; ".join(dict.fromkeys(failed)))
    return 1 if failed else 0


def _header(url: str, size: Size, runs: int) -> str:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        version = conn.execute("show server_version").fetchone()[0]
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'dashboard' "
                "and table_name like 'job_usage%' and table_name not like 'job_usage_delta%' order by 1"
            )
        ]
        counts = {
            t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("dashboard", t))).fetchone()[0]
            for t in tables
        }
    rollups = ", ".join(f"{t.removeprefix('job_usage_')} {n:,}" for t, n in counts.items())
    cpu = _cpu_name()
    return (
        f"# Pages, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {size.describe()}; rollup rows: {rollups}. "
        f"{os.cpu_count()} cores ({cpu}), PostgreSQL {version}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}. Server: median of {runs} AppTest runs (cold: each right after a "
        "catalogue write). Browser: headless Chromium, click to settled, second pass; bytes a click: websocket "
        "frames and HTTP bodies other than static files (the browser's, when it ran; else AppTest's messages)."
    )


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


# ─── Tables ─────────────────────────────────────────────────────────────────────────────────────
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def _span(values: list[float], unit: str = " ms") -> str:
    if not values:
        return "—"
    low, high = min(values), max(values)
    return f"{_ms(low)}{unit}" if _ms(low) == _ms(high) else f"{_ms(low)}–{_ms(high)}{unit}"


def _size(n: float) -> str:
    return f"{n / 1024 / 1024:.2f} MB" if n >= 1024 * 1024 else f"{n / 1024:,.0f} KB"


def summary(measured: list, passes: list) -> str:
    """The issue's table: per page, the span of the views' medians, the browser's clicks and the biggest one."""
    lines = [
        "| page | warm | cold | browser | bytes a click | DOM nodes |",
        "|---|---|---|---|---|---|",
    ]
    last = passes[-1] if passes else []
    groups = list(GROUPS) + sorted({m.view.group for m in measured} - set(GROUPS))
    for group in groups:
        views = [m for m in measured if m.view.group == group and not m.error]
        steps = [t for t in last if t.step.group == group and not t.error]
        if not views and not steps:
            continue
        warm = [statistics.median(m.warm) for m in views]
        cold = [statistics.median(m.cold) for m in views]
        browser = [t.seconds for t in steps]
        if steps:
            biggest = _size(max(t.sent for t in steps))
        elif views:
            biggest = _size(max(max(m.sent) for m in views)) + " (AppTest)"
        else:
            biggest = "—"
        nodes = f"{max(t.dom_nodes for t in steps):,}" if steps else "—"
        lines.append(f"| {group} | {_span(warm)} | {_span(cold)} | {_span(browser)} | {biggest} | {nodes} |")
    misses = _misses(measured, last)
    return "\n".join(lines) + (
        "\n\nOver a target: " + "; ".join(misses) if misses else "\n\nEvery figure within the targets."
    )


def _misses(measured: list, steps: list) -> list[str]:
    found = []
    for m in measured:
        if m.error:
            continue
        worst = max(statistics.median(m.warm), statistics.median(m.cold))
        if worst > TARGET_SERVER:
            found.append(f"{m.view.name} {worst * 1000:,.0f} ms on the server")
    for t in steps:
        if not t.error and t.seconds > TARGET_BROWSER:
            found.append(f"{t.step.name} {t.seconds:.2f} s in the browser")
        if not t.error and t.sent > TARGET_BYTES:
            found.append(f"{t.step.name} {_size(t.sent)} sent")
    return found


def details(measured: list, passes: list) -> str:
    out = []
    if measured:
        out += [
            "\n## Server (AppTest), every view\n",
            "| view | warm median | warm worst | cold median | cold worst | sent a run |",
            "|---|---|---|---|---|---|",
        ]
        for m in measured:
            if m.error:
                out.append(f"| {m.view.name} | not measured: {m.error} | | | | |")
                continue
            out.append(
                f"| {m.view.name} | {_ms(statistics.median(m.warm))} ms | {_ms(max(m.warm))} ms | "
                f"{_ms(statistics.median(m.cold))} ms | {_ms(max(m.cold))} ms | {_size(statistics.median(m.sent))} |"
            )
    if passes:
        out += [
            "\n## Browser (Chromium), every click\n",
            "| step | pass 1 | pass 2 | pass 2, run over at | websocket | other HTTP | static files | DOM nodes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        first = {t.step.name: t for t in passes[0]}
        last = {t.step.name: t for t in passes[-1]}
        for name in dict.fromkeys([*first, *last]):
            one, two = first.get(name), last.get(name)
            before = (one.error or f"{_ms(one.seconds)} ms") if one else "—"
            if two is None:
                out.append(f"| {name} | {before} | — | | | | | |")
                continue
            now = two.error or f"{_ms(two.seconds)} ms" + (f" ({two.note})" if two.note else "")
            out.append(
                f"| {name} | {before} | {now} | {_ms(two.run_over)} ms | {_size(two.received)} | "
                f"{_size(two.fetched)} | {_size(two.static)} | {two.dom_nodes:,} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
