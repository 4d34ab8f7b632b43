"""health_rules: the findings of the Health page, the CLI and the webhook, from plain values (no database)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dashboard.services import health_rules as rules
from dashboard.services.health_rules import HealthThresholds, ModelHealth
from tests import hostile

NOW = datetime(2026, 11, 23, 10, 20, tzinfo=UTC)
HOUR = "in the last hour"
T = HealthThresholds()


def _model(**overrides) -> ModelHealth:
    values = {
        "modality": "image",
        "task": "generation",
        "model_id": "00000000-0000-0000-0000-000000000001",
        "model": "SDXL 1.0",
        "routed": True,
        "next_model": "Flux 1.1 Pro",
        "next_failure_rate": 0.03,
        "jobs": 100,
        "completed": 62,
        "failed": 38,
        "failure_rate": 0.38,
        "baseline_jobs": 5000,
        "baseline_failure_rate": 0.02,
        "p50_seconds": None,
        "p95_seconds": None,
        "baseline_p95_seconds": None,
        "stuck_jobs": 0,
        "stuck_queued": 0,
        "stuck_processing": 0,
        "stuck_oldest_from": None,
        "rated": 0,
        "avg_rating": None,
        "baseline_rated": 0,
        "baseline_avg_rating": None,
        "baseline_finished": 5000,
    }
    return ModelHealth(**{**values, **overrides})


def _healthy(**overrides) -> ModelHealth:
    return _model(completed=98, failed=2, failure_rate=0.02, **overrides)


def _messages(model: ModelHealth, thresholds: HealthThresholds = T) -> list[str]:
    return [f.message for f in rules.model_findings(model, thresholds, window=HOUR, now=NOW)]


# ─── Failing ────────────────────────────────────────────────────────────────────────────────────
def test_a_failing_pick_is_said_as_the_issue_words_it():
    assert _messages(_model()) == [
        "image/generation routes to SDXL 1.0, failing 38% in the last hour (baseline 2%); "
        "next in line Flux 1.1 Pro fails 3%"
    ]


def test_a_healthy_model_has_no_finding_and_is_ok():
    model = _healthy()
    assert _messages(model) == []
    assert model.status == "ok"


def test_too_few_finished_jobs_make_no_finding_however_bad():
    # 19 finished jobs, all failed: below min_jobs (20); queued and cancelled jobs do not count as finished.
    assert _messages(_model(jobs=500, completed=0, failed=19, failure_rate=1.0)) == []
    assert _messages(_model(jobs=20, completed=1, failed=19, failure_rate=0.95)) != []


def test_the_failure_rate_comes_from_the_one_definition():
    from dashboard.services.usage import failure_rate

    model = rules.with_failure_rate(_model(failure_rate=None), completed=62, failed=38)
    assert model.failure_rate == failure_rate(38, 62) == 0.38
    assert rules.with_failure_rate(_model(), completed=0, failed=0).failure_rate is None


@pytest.mark.parametrize(
    ("rate", "baseline", "finding"),
    [
        (0.12, 0.02, True),  # exactly baseline + 10 points (and 6x): at the threshold is a finding
        (0.119, 0.02, False),
        (0.35, 0.20, False),  # 15 points above, but not twice the baseline: a flaky model as usual
        (0.40, 0.20, True),
        (0.10, 0.0, True),  # from nothing to 10%
        (0.09, 0.0, False),
    ],
)
def test_a_rate_is_judged_against_the_models_own_baseline(rate, baseline, finding):
    model = _model(completed=100 - round(rate * 100), failed=round(rate * 100), failure_rate=rate)
    assert bool(_messages(replace(model, baseline_failure_rate=baseline))) is finding


@pytest.mark.parametrize(("baseline_finished", "rate", "finding"), [(0, 0.25, True), (19, 0.24, False), (0, 0.3, True)])
def test_without_a_baseline_the_absolute_threshold_decides(baseline_finished, rate, finding):
    model = _model(
        failure_rate=rate, baseline_finished=baseline_finished, baseline_failure_rate=0.0 if baseline_finished else None
    )
    assert bool(_messages(model)) is finding


def test_a_baseline_on_too_few_jobs_is_said_and_not_trusted():
    message = _messages(_model(baseline_finished=3, baseline_jobs=3, baseline_failure_rate=0.0))[0]
    assert "(no baseline: 3 finished jobs in the 7 days before)" in message


def test_the_next_in_line_without_history_or_missing_is_said():
    assert _messages(_model(next_failure_rate=None))[0].endswith("; next in line Flux 1.1 Pro has no history")
    assert _messages(_model(next_model=None, next_failure_rate=None))[0].endswith("; nothing is next in line")


def test_a_model_that_is_not_the_pick_is_named_with_its_slot():
    assert _messages(_model(routed=False, next_model=None, next_failure_rate=None)) == [
        "SDXL 1.0 (image/generation, not the pick) is failing 38% in the last hour (baseline 2%)"
    ]


def test_thresholds_are_used_not_the_defaults():
    strict = HealthThresholds(min_jobs=5, failure_points=0.01, failure_factor=1.1)
    model = _model(jobs=10, completed=9, failed=1, failure_rate=0.1, baseline_failure_rate=0.05)
    assert _messages(model) == []
    assert len(_messages(model, strict)) == 1


# ─── Stuck ──────────────────────────────────────────────────────────────────────────────────────
def test_stuck_jobs_say_how_many_where_and_the_hour_of_the_oldest():
    stuck = _healthy(stuck_jobs=42, stuck_processing=42, stuck_oldest_from=datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert _messages(stuck) == ["42 jobs stuck in processing on SDXL 1.0, oldest created 08:00-09:00 UTC"]


def test_stuck_jobs_of_both_kinds_and_from_another_day():
    stuck = _healthy(
        stuck_jobs=1_300,
        stuck_queued=1_000,
        stuck_processing=300,
        stuck_oldest_from=datetime(2026, 3, 1, 23, tzinfo=UTC),
    )
    assert _messages(stuck) == [
        "1,300 jobs stuck on SDXL 1.0 (300 processing, 1,000 queued), oldest created 2026-03-01 23:00-24:00 UTC"
    ]
    one = _healthy(stuck_jobs=1, stuck_queued=1, stuck_oldest_from=datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert _messages(one) == ["1 job stuck in the queue on SDXL 1.0, oldest created 09:00-10:00 UTC"]


def test_fewer_stuck_jobs_than_the_threshold_are_no_finding():
    stuck = _healthy(stuck_jobs=2, stuck_queued=2, stuck_oldest_from=datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert _messages(stuck, HealthThresholds(min_stuck=3)) == []
    assert len(_messages(stuck, HealthThresholds(min_stuck=2))) == 1


# ─── Latency ────────────────────────────────────────────────────────────────────────────────────
def test_a_slow_p95_against_its_baseline():
    slow = _healthy(model="Whisper", p50_seconds=9.5, p95_seconds=41.0, baseline_p95_seconds=13.0, timed=98)
    slow = replace(slow, baseline_timed=3000)
    assert _messages(slow) == ["p95 latency of Whisper 3.2x its baseline (41 s against 13 s)"]


@pytest.mark.parametrize(
    ("timed", "baseline_timed", "p95", "finding"),
    [(19, 3000, 41.0, False), (20, 19, 41.0, False), (20, 20, 26.0, True), (20, 20, 25.9, False)],
)
def test_latency_needs_enough_timed_jobs_on_both_sides_and_the_factor(timed, baseline_timed, p95, finding):
    model = _healthy(p95_seconds=p95, baseline_p95_seconds=13.0, timed=timed, baseline_timed=baseline_timed)
    assert bool(_messages(model)) is finding


def test_a_p95_beyond_the_last_bucket_is_said_without_a_made_up_factor():
    model = _healthy(p95_seconds=math.inf, baseline_p95_seconds=13.0, timed=50, baseline_timed=50)
    assert _messages(model) == ["p95 latency of SDXL 1.0 beyond the longest duration measured (baseline 13 s)"]


# ─── Rating ─────────────────────────────────────────────────────────────────────────────────────
def test_a_rating_drop_with_enough_rated_jobs_says_the_counts():
    model = _healthy(rated=40, avg_rating=3.1, baseline_rated=1_200, baseline_avg_rating=4.4)
    assert _messages(model) == [
        "average rating of SDXL 1.0 fell to 3.1 from 4.4 (40 rated jobs in the last hour, 1,200 in the 7 days before)"
    ]


@pytest.mark.parametrize(
    ("rated", "baseline_rated", "avg", "finding"),
    [(19, 1000, 1.0, False), (20, 19, 1.0, False), (20, 20, 3.9, True), (20, 20, 3.91, False)],
)
def test_a_rating_finding_needs_enough_rated_jobs_and_a_real_drop(rated, baseline_rated, avg, finding):
    model = _healthy(rated=rated, avg_rating=avg, baseline_rated=baseline_rated, baseline_avg_rating=4.4)
    assert bool(_messages(model)) is finding


# ─── Order and status ──────────────────────────────────────────────────────────────────────────
def test_findings_come_worst_first_routed_before_not_and_failing_before_the_rest():
    oldest = datetime(2026, 11, 23, 8, tzinfo=UTC)
    routed = _model(
        stuck_jobs=5, stuck_processing=5, stuck_oldest_from=oldest, rated=30, avg_rating=2.0, baseline_rated=30
    )
    routed = replace(routed, baseline_avg_rating=4.0, p95_seconds=60.0, baseline_p95_seconds=10.0, timed=60)
    routed = replace(routed, baseline_timed=60)
    other = _model(model="Other", routed=False, failure_rate=0.9, completed=10, failed=90)
    small = _model(model="Small", routed=True, failure_rate=0.2, completed=80, failed=20, modality="audio")
    models, found = rules.assess([other, small, routed], T, window=HOUR, now=NOW)
    assert [(f.model, f.kind) for f in found] == [
        ("SDXL 1.0", "failing"),  # 36 points above its baseline
        ("Small", "failing"),  # 18 points
        ("SDXL 1.0", "stuck"),
        ("SDXL 1.0", "latency"),
        ("SDXL 1.0", "rating"),
        ("Other", "failing"),  # not the pick: after every finding on a pick
    ]
    assert [f.weight for f in found] == sorted((f.weight for f in found), reverse=True)
    by_name = {m.model: m for m in models}
    assert by_name["SDXL 1.0"].reasons == tuple(f.message for f in found if f.model == "SDXL 1.0")
    assert {m.status for m in models} == {"attention"}
    assert found[0].slot == "image/generation" and found[0].routed


def test_more_stuck_jobs_weigh_more():
    oldest = datetime(2026, 11, 23, 8, tzinfo=UTC)
    few = _healthy(model="Few", stuck_jobs=2, stuck_queued=2, stuck_oldest_from=oldest)
    many = _healthy(model="Many", stuck_jobs=200, stuck_queued=200, stuck_oldest_from=oldest)
    _, found = rules.assess([few, many], T, window=HOUR, now=NOW)
    assert [f.model for f in found] == ["Many", "Few"]


def test_nothing_to_assess_is_nothing_found():
    assert rules.assess([], T, window=HOUR, now=NOW) == ([], [])


# ─── Figures for people ─────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (0.0, "0%"),
        (0.375, "38%"),
        (0.025, "3%"),
        (0.004, "0.4%"),
        (0.0004, "under 0.1%"),
        (0.996, "99.6%"),
        (0.99996, "over 99.9%"),
        (1.0, "100%"),
        (None, "no jobs"),
    ],
)
def test_percentages_for_people(rate, shown):
    assert rules.percent(rate) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.42, "0.42 s"), (2.38, "2.4 s"), (40.3, "40 s"), (13.45, "13 s"), (2820.0, "47 min"), (11_000.0, "3.1 h")],
)
def test_durations_for_people(seconds, shown):
    assert rules.duration(seconds) == shown


# ─── Hostile names ──────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("name", hostile.STORABLE)
def test_a_hostile_name_is_carried_as_it_is_for_the_screens_to_escape(name):
    model = _model(model=name, next_model=name, modality=hostile.HTML, task=hostile.LINK)
    [finding] = rules.model_findings(model, T, window=HOUR, now=NOW)
    assert name in finding.message and finding.model == name
    assert finding.slot == f"{hostile.HTML}/{hostile.LINK}"


def test_absurd_counts_do_not_break_the_rules():
    huge = 10**15
    model = _model(jobs=huge, completed=huge // 2, failed=huge // 2, failure_rate=0.5, stuck_jobs=huge)
    model = replace(model, stuck_processing=huge, stuck_oldest_from=datetime(1970, 1, 1, tzinfo=UTC))
    messages = _messages(model)
    assert messages[1].startswith("1,000,000,000,000,000 jobs stuck in processing")
    assert "1970-01-01 00:00-01:00 UTC" in messages[1]


# ─── Which models can have a finding at all, and which have one ──────────────────────────────────
def _random_cases(seed: int, count: int = 2000):
    """(thresholds, window counts (completed, failed, rated, stuck), a model with those counts and any baseline and
    latency on top): thresholds vary too, zero and absurd ones included."""
    import random

    rng = random.Random(seed)
    for _ in range(count):
        limits = HealthThresholds(
            min_jobs=rng.choice([0, 1, 5, 20]),
            min_rated=rng.choice([0, 1, 20]),
            min_stuck=rng.choice([0, 1, 3]),
            failure_rate=rng.choice([0.0, 0.25, 1.0]),
            failure_points=rng.choice([0.0, 0.1]),
            failure_factor=rng.choice([0.0, 2.0]),
            latency_factor=rng.choice([0.0, 1.0, 2.0]),
            rating_drop=rng.choice([-1.0, 0.0, 0.5]),
        )
        completed, failed, rated = (rng.choice([0, 1, 2, 5, 19, 20, 40]) for _ in range(3))
        rated = min(rated, completed)
        stuck = rng.choice([0, 0, 1, 2])
        timed = rng.randint(0, completed)
        model = _model(
            jobs=completed + failed + stuck,
            completed=completed,
            failed=failed,
            failure_rate=failed / (completed + failed) if completed + failed else None,
            stuck_jobs=stuck,
            stuck_queued=stuck,
            rated=rated,
            avg_rating=rng.choice([None, 1.0, 5.0]) if rated else None,
            baseline_rated=rng.choice([0, 20, 500]),
            baseline_avg_rating=rng.choice([None, 4.5]),
            baseline_failure_rate=rng.choice([None, 0.0, 0.5]),
            baseline_finished=rng.choice([0, 20, 500]),
            p95_seconds=rng.choice([None, 1.0, math.inf]) if timed else None,
            baseline_p95_seconds=rng.choice([None, 0.1]),
            timed=timed,
            baseline_timed=rng.choice([0, 20, 500]),
        )
        yield limits, (completed, failed, rated, stuck), model


@pytest.mark.parametrize("seed", range(6))
def test_a_model_that_cannot_have_a_finding_has_none_whatever_its_other_figures(seed):
    """could_need_attention reads only the window's counts; model_findings, given any baseline and latency on top
    of counts it calls quiet, finds nothing."""
    for limits, (completed, failed, rated, stuck), model in _random_cases(seed):
        if not rules.could_need_attention(
            completed=completed, failed=failed, rated=rated, stuck=stuck, thresholds=limits
        ):
            assert rules.model_findings(model, limits, window=HOUR, now=NOW) == [], (limits, model)


def test_busy_rated_or_stuck_models_can_need_attention_and_quiet_ones_cannot():
    assert rules.could_need_attention(completed=15, failed=5, rated=0, stuck=0, thresholds=T)  # 20 finished
    assert rules.could_need_attention(completed=1, failed=0, rated=0, stuck=1, thresholds=T)
    assert rules.could_need_attention(completed=25, failed=0, rated=20, stuck=0, thresholds=T)
    assert not rules.could_need_attention(completed=14, failed=5, rated=19, stuck=0, thresholds=T)
    assert not rules.could_need_attention(completed=0, failed=0, rated=0, stuck=0, thresholds=T)


@pytest.mark.parametrize("seed", range(6))
def test_needs_attention_says_whether_model_findings_finds_anything(seed):
    """needs_attention (what a report judges models by before it reads their names) agrees with model_findings."""
    for limits, _, model in _random_cases(seed):
        found = rules.model_findings(model, limits, window=HOUR, now=NOW)
        assert rules.needs_attention(model, limits) is bool(found), (limits, model)
