"""Database URLs: what is accepted, how it is turned into the driver's form, and what messages say."""

import pytest

from dashboard.database import DatabaseUnavailable, connection_hint, describe, to_sqlalchemy_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db.example.com:5432/app",
        "postgres://u:p@db.example.com/app",
        "postgresql+psycopg://u@localhost/app",
        "postgresql://postgres:@/postgres?host=/tmp/some/socket",
    ],
)
def test_plain_postgres_urls_become_psycopg_urls(url):
    assert to_sqlalchemy_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url", ["mysql://x@y/z", "sqlite:///x.db", "db.example.com:5432", "", "postgresql+asyncpg://x"]
)
def test_anything_else_is_refused_with_an_example(url):
    with pytest.raises(DatabaseUnavailable, match="postgresql://user:password@host"):
        to_sqlalchemy_url(url)


def test_descriptions_never_contain_the_password():
    url = to_sqlalchemy_url("postgresql://someone:hunter2@db.example.com:6543/app")
    assert describe(url) == "db.example.com:6543/app"
    assert "hunter2" not in connection_hint(url, Exception("password authentication failed for user"))


def test_a_socket_url_is_described_by_its_folder():
    assert describe(to_sqlalchemy_url("postgresql://u@/app?host=/run/postgresql")) == "/run/postgresql/app"


@pytest.mark.parametrize(
    ("error", "check"),
    [
        ('connection failed: FATAL:  password authentication failed for user "x"', "user name and password"),
        ('connection failed: FATAL:  database "nope" does not exist', "database name"),
        ('connection failed: FATAL:  role "nope" does not exist', "user name in DATABASE_URL"),
        ("connection failed: connection timeout expired", "firewall"),
        ("connection failed: Connection refused", "server is running"),
    ],
)
def test_connection_hints_say_what_to_check(error, check):
    hint = connection_hint(to_sqlalchemy_url("postgresql://u@h/d"), Exception(error))
    assert check in hint
    assert "\n" not in hint


@pytest.mark.parametrize(
    ("env", "idle", "hours", "secure"),
    [
        ({}, 30, 12, False),
        ({"DASHBOARD_IDLE_MINUTES": "5", "DASHBOARD_SESSION_HOURS": "8"}, 5, 8, False),
        ({"DASHBOARD_SESSION_HOURS": "0", "DASHBOARD_SECURE_COOKIES": "true"}, 30, 12, True),
        ({"DASHBOARD_SESSION_HOURS": "99999", "DASHBOARD_IDLE_MINUTES": "²"}, 30, 12, False),
        (
            {"DASHBOARD_SESSION_HOURS": "-3", "DASHBOARD_IDLE_MINUTES": "٣", "DASHBOARD_SECURE_COOKIES": "no"},
            30,
            12,
            False,
        ),
        ({"DASHBOARD_SESSION_HOURS": " 720 ", "DASHBOARD_SECURE_COOKIES": " ON "}, 30, 720, True),
    ],
)
def test_session_settings_fall_back_to_their_defaults_on_nonsense(env, idle, hours, secure):
    from dashboard.config import Settings

    settings = Settings.from_env({"DASHBOARD_DATA_DIR": "data", **env})
    assert (settings.idle_minutes, settings.session_hours, settings.secure_cookies) == (idle, hours, secure)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        (
            {
                "DASHBOARD_HEALTH_MIN_JOBS": "50",
                "DASHBOARD_HEALTH_FAILURE_RATE": "30%",
                "DASHBOARD_HEALTH_RATING_DROP": ".75",
            },
            {"min_jobs": 50, "failure_rate": 0.3, "rating_drop": 0.75},
        ),
        (
            {"DASHBOARD_HEALTH_STUCK_MINUTES": " 60 ", "DASHBOARD_HEALTH_FAILURE_POINTS": "0"},
            {"stuck_minutes": 60, "failure_points": 0.0},
        ),
        # Nonsense keeps the default: negative, zero, out of range, exponents, infinities, other digits, text.
        (
            {
                "DASHBOARD_HEALTH_MIN_JOBS": "-3",
                "DASHBOARD_HEALTH_MIN_STUCK": "0",
                "DASHBOARD_HEALTH_FAILURE_RATE": "2.5",
                "DASHBOARD_HEALTH_FAILURE_FACTOR": "1e3",
                "DASHBOARD_HEALTH_LATENCY_FACTOR": "inf",
                "DASHBOARD_HEALTH_FAILURE_POINTS": "nan",
                "DASHBOARD_HEALTH_MIN_RATED": "٣",
                "DASHBOARD_HEALTH_STUCK_MINUTES": "99999999",
                "DASHBOARD_HEALTH_RATING_DROP": "1.2.3",
            },
            {},
        ),
        ({"DASHBOARD_HEALTH_FAILURE_RATE": "'; drop table jobs; --", "DASHBOARD_HEALTH_MIN_JOBS": "²"}, {}),
    ],
)
def test_health_thresholds_come_from_the_environment_and_nonsense_keeps_the_default(env, expected):
    from dashboard.config import Settings
    from dashboard.services.health_rules import HealthThresholds

    settings = Settings.from_env({"DASHBOARD_DATA_DIR": "data", **env})
    assert dict(settings.health) == expected
    assert settings.health_thresholds == HealthThresholds(**expected)


def test_the_health_webhook_is_read_but_never_shown_in_the_settings():
    from dashboard.config import Settings

    url = "https://hooks.example.com/services/T000/B000/secret-token"
    settings = Settings.from_env({"DASHBOARD_DATA_DIR": "data", "DASHBOARD_HEALTH_WEBHOOK": f" {url} "})
    assert settings.health_webhook == url
    assert "secret-token" not in repr(settings)
    assert Settings.from_env({"DASHBOARD_DATA_DIR": "data", "DASHBOARD_HEALTH_WEBHOOK": "  "}).health_webhook is None
