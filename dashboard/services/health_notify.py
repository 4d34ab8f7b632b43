"""The Health report for a terminal and a chat channel: a table of text, and the findings posted to a webhook
(Slack-style), never raising when the post fails."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from dashboard.services.health import WINDOWS, HealthReport
from dashboard.services.health_rules import BASELINE_DAYS, duration, percent
from dashboard.text import visible, visible_frame


def report_as_text(report: HealthReport) -> str:
    """The findings, then one line per model, for a terminal (hidden characters in names shown as escapes)."""

    lines = [
        f"Health over {WINDOWS[report.window]}: jobs created since {report.start:%Y-%m-%d %H:%M} UTC, against each "
        f"model's {BASELINE_DAYS} whole UTC days from {report.baseline_start:%Y-%m-%d}; stuck: queued or "
        f"processing, created before {report.stuck_before:%Y-%m-%d %H:%M} UTC (counted to the hour)"
    ]
    lines += [f"! {visible(f.message)}" for f in report.findings] or ["nothing needs attention"]
    if report.models:
        table = pd.DataFrame(
            [
                {
                    "slot": m.slot,
                    "model": m.model,
                    "routed": "yes" if m.routed else "",
                    "status": m.status,
                    "jobs": m.jobs,
                    "failing": percent(m.failure_rate),
                    "baseline": percent(m.baseline_failure_rate) if m.baseline_finished else "-",
                    "p50": duration(m.p50_seconds) if m.timed else "-",
                    "p95": duration(m.p95_seconds) if m.timed else "-",
                    "stuck": m.stuck_jobs,
                }
                for m in report.models
            ]
        )
        lines += ["", visible_frame(table).to_string(index=False)]
    return "\n".join(lines)


WEBHOOK_TIMEOUT_SECONDS = 10


def webhook_payload(report: HealthReport) -> dict[str, Any]:
    """What the webhook receives: Slack's "text" (one finding a line, names made inert: hidden characters as escapes,
    and &, <, > as Slack's entities so that a name cannot make a link or mention), the window and the findings."""

    def inert(text: str) -> str:
        return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    document = report.as_json()
    return {
        "text": "\n".join(inert(f.message) for f in report.findings),
        **{k: document[k] for k in ("window", "findings")},
    }


def redacted(url: str) -> str:
    """A webhook URL as it may be printed: its scheme and host (the path holds the secret)."""

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "the webhook URL"
    return f"{parts.scheme}://{host}/…" if parts.scheme in ("http", "https") and host else "the webhook URL"


def post_findings(url: str, report: HealthReport, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> str | None:
    """POST webhook_payload(report) as JSON to url; None when the receiver accepted it (2xx), else what went wrong,
    in one line that never holds the URL's path (a secret). Never raises."""

    where = redacted(url)
    try:
        scheme = urlsplit(url.strip()).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):  # urllib would also open file:// and ftp:// URLs
        return "the webhook URL is not an http(s) URL; nothing was posted"
    body = json.dumps(webhook_payload(report), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url.strip(), data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            response.read(65536)
    except urllib.error.HTTPError as exc:
        return f"the webhook at {where} answered {exc.code} {exc.reason}; the findings were not posted"
    except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None)
        if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        elif not isinstance(reason, (str, OSError)):
            reason = type(exc).__name__
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        return f"could not post to the webhook at {where}: {text}"
    return None
