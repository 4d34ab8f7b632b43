"""How long the Usage page takes on the server, per click, on a benchmark database.

Runs the real app (dashboard/ui/app.py) in Streamlit's AppTest, signed in as the demo admin, and times
whole script runs of the Usage page for each range and grouping: everything the server does for one
click (the sign-in check, the data version, the usage queries, the charts), without a browser.

    python -m bench.usage_page --database bench_usage_10000000   # built by bench.usage_bench --keep
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLICKS = [
    ("30d", "model"),
    ("24h", "model"),
    ("7d", "provider"),
    ("90d", "modality"),
    ("all", "model"),
    ("all", "task"),
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.usage_page", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--database", default="bench_usage_10000000")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per click (after one warm-up)")
    args = parser.parse_args()
    url = args.server.rsplit("/", 1)[0] + "/" + args.database
    os.environ["DATABASE_URL"] = url

    import sqlalchemy as sa
    from streamlit.testing.v1 import AppTest

    from dashboard.database import create_db_engine

    engine = create_db_engine(url)
    with engine.connect() as conn:
        admin = conn.execute(sa.text("select id from auth.users where email = 'admin@example.com'")).scalar_one()
        jobs = conn.execute(sa.text("select count(*) from jobs")).scalar_one()
        pending = conn.execute(sa.text("select count(*) from dashboard.job_usage_delta")).scalar_one()
    print(f"# Usage page, server side, {jobs:,} jobs ({pending:,} deltas pending), {args.runs} runs per click")
    at = AppTest.from_file(str(REPO / "dashboard" / "ui" / "app.py"), default_timeout=120)
    at.session_state["_dashboard_user_id"] = admin
    at.session_state["_dashboard_last_seen"] = time.time()
    at.run()
    at.switch_page("../../pages/usage.py").run()
    assert not at.exception, at.exception
    rows = []
    for period, group in CLICKS:
        at.segmented_control(key="u_range").set_value(period)
        at.selectbox(key="u_group").set_value(group)
        at.session_state["_dashboard_last_seen"] = time.time()
        at.run()  # warm-up
        times = []
        for _ in range(args.runs):
            at.session_state["_dashboard_last_seen"] = time.time()
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        charts = len(at.get("plotly_chart"))
        rows.append((period, group, statistics.median(times), max(times), charts))
        print(
            f"  range {period:>3}, by {group:<8}: median {statistics.median(times) * 1000:6.0f} ms, "
            f"worst {max(times) * 1000:6.0f} ms, {charts} charts"
        )
    print("\n| Range | Group by | Median | Worst | Charts |\n|---|---|---|---|---|")
    for period, group, median, worst, charts in rows:
        print(f"| {period} | {group} | {median * 1000:.0f} ms | {worst * 1000:.0f} ms | {charts} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
