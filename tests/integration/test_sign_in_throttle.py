"""Sign-in throttling: per account and per address, unknown emails alike, lifting by itself, under a burst."""

import hashlib
import threading
from datetime import timedelta

import bcrypt
import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as
from dashboard.services import auth
from dashboard.services.auth import THROTTLE, account_key, address_bucket, sign_in
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_user

RIGHT = "correct horse battery"
ACCOUNT_LIMIT, ADDRESS_LIMIT, WINDOW = THROTTLE.account_limit, THROTTLE.address_limit, THROTTLE.window


@pytest.fixture
def checks(monkeypatch):
    """How many passwords were checked; the unknown-email check made cheap so that bursts run quickly."""
    count = {"n": 0}
    lock = threading.Lock()
    real = auth._password_matches

    def counted(secret, stored):
        with lock:
            count["n"] += 1
        return real(secret, stored)

    monkeypatch.setattr(auth, "_password_matches", counted)
    cheap = bcrypt.hashpw(b"no such account", bcrypt.gensalt(rounds=4))
    monkeypatch.setattr(auth, "dummy_hash", lambda cost: cheap)
    return count


def _attempts(engine):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select account, host(address) as host, address::text as address, outcome "
                "from dashboard.sign_in_attempts order by id"
            )
        ).all()


def _age(engine, minutes: float) -> None:
    """Let time pass: every recorded attempt happened this many minutes earlier."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("update dashboard.sign_in_attempts set at = at - make_interval(secs => :s)"), {"s": minutes * 60}
        )


def _record(engine, *, email="ada@example.com", address=None, outcome="failure", minutes_ago=0.0, times=1):
    """Attempts made earlier, written straight into the table (as if made then)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            insert into dashboard.sign_in_attempts (at, account, address, outcome)
            select clock_timestamp() - make_interval(secs => :s), :account, cast(:address as inet), :outcome
            from generate_series(1, :times)
        """),
            {
                "s": minutes_ago * 60,
                "account": account_key(email),
                "address": address,
                "outcome": outcome,
                "times": times,
            },
        )


def test_every_attempt_is_recorded_under_the_emails_hash_successes_too(engine, checks):
    ada = make_user(engine, email="ada@example.com", password=RIGHT)
    assert sign_in(engine, email="ada@example.com", password="wrong", address="203.0.113.7").user_id is None
    assert sign_in(engine, email=" ADA@example.com ", password=RIGHT, address="203.0.113.7").user_id == ada
    rows = _attempts(engine)
    assert [(r.host, r.outcome) for r in rows] == [("203.0.113.7", "failure"), ("203.0.113.7", "success")]
    assert {bytes(r.account) for r in rows} == {hashlib.sha256(b"ada@example.com").digest()}
    with engine.connect() as conn:  # the typed email is kept nowhere in the table
        kept = sa.text("select count(*) from dashboard.sign_in_attempts t where to_jsonb(t)::text ilike '%example%'")
        assert conn.execute(kept).scalar() == 0


def test_the_sixth_failure_in_a_row_is_throttled_and_checks_no_password(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    for _ in range(ACCOUNT_LIMIT):
        result = sign_in(engine, email="ada@example.com", password="wrong")
        assert (result.user_id, result.throttled) == (None, False)
    assert checks["n"] == ACCOUNT_LIMIT
    result = sign_in(engine, email="ada@example.com", password=RIGHT)  # even the right password waits
    assert result.throttled and result.user_id is None
    assert result.retry_minutes == 15
    assert checks["n"] == ACCOUNT_LIMIT
    assert [r.outcome for r in _attempts(engine)] == ["failure"] * ACCOUNT_LIMIT + ["throttled"]
    # Another account is not affected.
    make_user(engine, email="bob@example.com", password=RIGHT)
    assert sign_in(engine, email="bob@example.com", password=RIGHT).user_id is not None


def test_unknown_emails_are_throttled_exactly_like_known_ones(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)

    def story(email):
        answers = [sign_in(engine, email=email, password="wrong") for _ in range(ACCOUNT_LIMIT + 2)]
        return [(a.user_id, a.throttled, a.retry_minutes) for a in answers]

    known, unknown = story("ada@example.com"), story("nobody@example.com")
    assert known == unknown
    assert [throttled for _, throttled, _ in known] == [False] * ACCOUNT_LIMIT + [True, True]
    assert checks["n"] == 2 * ACCOUNT_LIMIT  # the unknown email's attempts cost a (dummy) check too


def test_an_unknown_email_costs_one_password_check_like_a_wrong_password(engine, monkeypatch):
    make_user(engine, email="ada@example.com", password=RIGHT)
    stored = []
    monkeypatch.setattr(auth, "_password_matches", lambda secret, hashed: stored.append(hashed) or False)
    sign_in(engine, email="ada@example.com", password="wrong")
    sign_in(engine, email="nobody@example.com", password="wrong")
    assert len(stored) == 2 and stored[1] == auth.dummy_hash(4)
    assert stored[0].startswith(b"$2a$04$") and stored[1].startswith(b"$2b$04$")  # the accounts' cost


def test_a_success_lets_the_account_start_afresh(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    for _ in range(ACCOUNT_LIMIT - 1):
        sign_in(engine, email="ada@example.com", password="wrong")
    assert sign_in(engine, email="ada@example.com", password=RIGHT).user_id is not None
    for _ in range(ACCOUNT_LIMIT):  # a mistake after signing in is not the last straw
        assert not sign_in(engine, email="ada@example.com", password="wrong").throttled
    assert sign_in(engine, email="ada@example.com", password=RIGHT).throttled


def test_an_address_is_throttled_across_accounts_and_a_success_clears_nothing_of_it(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    make_user(engine, email="mallory@example.com", password=RIGHT)
    here, elsewhere = "198.51.100.23", "198.51.100.24"
    for n in range(ADDRESS_LIMIT - 1):  # one password sprayed over many accounts
        assert not sign_in(engine, email=f"person{n}@example.com", password="Summer2025!", address=here).throttled
    # Signing in to an account of one's own from there does not reset the address' count.
    assert sign_in(engine, email="mallory@example.com", password=RIGHT, address=here).user_id is not None
    assert not sign_in(engine, email="last@example.com", password="Summer2025!", address=here).throttled
    blocked = sign_in(engine, email="ada@example.com", password=RIGHT, address=here)
    assert blocked.throttled and blocked.retry_minutes == 15
    assert sign_in(engine, email="ada@example.com", password=RIGHT, address=elsewhere).user_id is not None
    assert sign_in(engine, email="ada@example.com", password=RIGHT, address=None).user_id is not None
    assert checks["n"] == ADDRESS_LIMIT + 1 + 2


def test_ipv6_addresses_count_by_their_64(engine, checks):
    for n in range(ADDRESS_LIMIT):  # a new address of one's own /64 for every guess
        sign_in(engine, email=f"p{n}@example.com", password="x", address=f"2001:db8:1:2:{n:x}::1")
    assert sign_in(engine, email="q@example.com", password="x", address="2001:db8:1:2:ffff::9").throttled
    assert not sign_in(engine, email="q@example.com", password="x", address="2001:db8:1:3::1").throttled
    assert {r.address for r in _attempts(engine)} == {"2001:db8:1:2::/64", "2001:db8:1:3::/64"}


def test_the_lockout_lifts_when_the_failures_leave_the_window(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    _record(engine, minutes_ago=14, times=ACCOUNT_LIMIT)
    result = sign_in(engine, email="ada@example.com", password=RIGHT)
    assert result.throttled and result.retry_minutes == 1
    assert timedelta(0) < result.retry_after <= timedelta(minutes=1)
    _age(engine, 1.1)
    assert sign_in(engine, email="ada@example.com", password=RIGHT).user_id is not None


def test_the_window_slides_one_failure_at_a_time(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    _record(engine, minutes_ago=14, times=1)
    _record(engine, minutes_ago=5, times=ACCOUNT_LIMIT - 1)
    assert sign_in(engine, email="ada@example.com", password="wrong").throttled  # the fifth is already there
    _age(engine, 1.1)  # the oldest leaves the window: one more try, then wait for the next to leave
    assert not sign_in(engine, email="ada@example.com", password="wrong").throttled
    result = sign_in(engine, email="ada@example.com", password=RIGHT)
    assert result.throttled and result.retry_minutes == 9


def test_hammering_a_locked_account_does_not_keep_it_locked(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    _record(engine, minutes_ago=14, times=ACCOUNT_LIMIT)
    for _ in range(10):
        assert sign_in(engine, email="ada@example.com", password="wrong").throttled
    _age(engine, 1.1)
    assert sign_in(engine, email="ada@example.com", password=RIGHT).user_id is not None
    assert checks["n"] == 1


def test_failures_older_than_the_window_and_other_accounts_do_not_count(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    _record(engine, minutes_ago=WINDOW.total_seconds() / 60 + 1, times=50)
    _record(engine, email="someone.else@example.com", times=50)
    _record(engine, email="ada@example.com", outcome="throttled", times=50)
    assert sign_in(engine, email="ada@example.com", password=RIGHT).user_id is not None


def test_a_burst_of_parallel_guesses_on_one_account_checks_at_most_the_limit(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    results, errors = run_together(lambda _: sign_in(engine, email="ada@example.com", password="wrong"), range(20))
    assert not errors
    assert checks["n"] == ACCOUNT_LIMIT
    assert sorted(r.throttled for r in results) == [False] * ACCOUNT_LIMIT + [True] * (20 - ACCOUNT_LIMIT)
    assert sorted(r.outcome for r in _attempts(engine)) == ["failure"] * ACCOUNT_LIMIT + ["throttled"] * 15


def test_a_burst_from_one_address_over_many_accounts_checks_at_most_its_limit(engine, checks):
    attempts = [f"p{n}@example.com" for n in range(2 * ADDRESS_LIMIT)]
    results, errors = run_together(
        lambda email: sign_in(engine, email=email, password="wrong", address="192.0.2.99"), attempts
    )
    assert not errors
    assert checks["n"] == ADDRESS_LIMIT
    assert sum(r.throttled for r in results) == ADDRESS_LIMIT


HOSTILE_EMAILS = hostile.EMAILS
HOSTILE_ADDRESSES = [
    "'; drop table dashboard.sign_in_attempts; --",
    "203.0.113.7\x00",
    "１.２.３.４",
    "9" * 100_000,
    "fe80::1%eth0",
    "::ffff:203.0.113.7",
    "0x7f.0.0.1",
    "unknown",
    "::ffff:127.0.0.1",  # a reverse proxy on this machine, as Streamlit reports it when listening on every address
    "",
    " 203.0.113.7 ",
    "\ud800",
    None,
    object(),  # what AppTest hands over as st.context.ip_address is not even text
]


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8:0:0:1::7", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("１.２.３.４", None),
        ("203.0.113.7\x00", None),
        ("0x7f.0.0.1", None),
        ("9" * 100_000, None),
        ("unknown", None),
        ("", None),
        (None, None),
        (42, None),
        ("127.0.0.1", None),
        ("::1", None),
        ("::ffff:127.0.0.1", None),
        ("127.8.0.1", None),
    ],
)
def test_address_buckets(address, bucket):
    assert address_bucket(address) == bucket


def test_hostile_emails_passwords_and_addresses_are_just_failed_attempts(engine, checks):
    make_user(engine, email="ada@example.com", password=RIGHT)
    for n, email in enumerate(HOSTILE_EMAILS):
        address = HOSTILE_ADDRESSES[n % len(HOSTILE_ADDRESSES)]
        result = sign_in(engine, email=email, password=email, address=address)
        assert result.user_id is None and not result.throttled, repr(email)[:80]
    for address in HOSTILE_ADDRESSES:
        for password in ("\x00", "\ud800", "x" * 100_000, "' or '1'='1"):
            assert sign_in(engine, email="ada@example.com", password=password, address=address).user_id is None
            _age(engine, WINDOW.total_seconds() / 60 + 1)  # keep the account under its limit: every check happens
    assert sign_in(engine, email="ada@example.com", password=RIGHT, address="\x00").user_id is not None
    rows = _attempts(engine)
    assert len(rows) == len(HOSTILE_EMAILS) + 4 * len(HOSTILE_ADDRESSES) + 1
    assert {r.address for r in rows} <= {None, "203.0.113.7/32", "fe80::/64"}


def test_people_can_neither_read_the_attempts_nor_call_the_throttle(engine):
    sign_in(engine, email="ada@example.com", password="x")
    admin = make_user(engine, "admin")
    with engine.connect() as conn:
        rls = sa.text("select relrowsecurity from pg_class where oid = 'dashboard.sign_in_attempts'::regclass")
        assert conn.execute(rls).scalar()
        assert (
            conn.execute(
                sa.text(
                    "select count(*) from pg_policies where schemaname = 'dashboard' and tablename = 'sign_in_attempts'"
                )
            ).scalar()
            == 0
        )
    statements = [
        "select count(*) from dashboard.sign_in_attempts",
        "delete from dashboard.sign_in_attempts",
        "select * from dashboard.begin_sign_in_attempt('\\x00', null, 100, 100, '1 second')",
        "select dashboard.sign_in_attempt_succeeded(1)",
        "select dashboard.prune_sign_in_attempts('0 seconds')",
        "select * from dashboard.sign_in_account('ada@example.com')",
        "select * from dashboard.sign_in_account_state('ada@example.com')",
        "select dashboard.sign_in_hash_cost()",
    ]
    for actor in (None, admin, SERVICE_ROLE):
        for statement in statements:
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                with acting_as(engine, actor) as conn:
                    conn.execute(sa.text(statement))
    assert len(_attempts(engine)) == 1


def test_pruning_keeps_a_day(engine):
    _record(engine, minutes_ago=2 * 24 * 60, times=3)
    _record(engine, minutes_ago=23 * 60, times=2)
    with engine.begin() as conn:
        assert conn.execute(sa.text("select dashboard.prune_sign_in_attempts()")).scalar() == 3
    assert len(_attempts(engine)) == 2


def test_the_throttle_refuses_nonsense_limits(engine):
    for limits in ("0, 20, '15 minutes'", "5, 0, '15 minutes'", "5, 20, '0 seconds'", "null, 20, '15 minutes'"):
        with pytest.raises(sa.exc.DBAPIError, match="needs an account"):
            with engine.begin() as conn:
                conn.execute(sa.text(f"select * from dashboard.begin_sign_in_attempt('\\x00', null, {limits})"))


def test_an_operator_can_find_an_accounts_attempts_by_hashing_its_email_in_sql(engine):
    """The query docs/production.md gives for looking into an account."""
    sign_in(engine, email=" Ada@Example.com", password="x")
    with engine.connect() as conn:
        found = (
            conn.execute(
                sa.text(
                    "select outcome from dashboard.sign_in_attempts "
                    "where account = sha256(convert_to(lower(trim('ada@example.com')), 'UTF8'))"
                )
            )
            .scalars()
            .all()
        )
    assert found == ["failure"]


def test_the_documented_unlock_lets_a_locked_out_person_in_at_once(engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    for _ in range(ACCOUNT_LIMIT):
        sign_in(engine, email="ada@example.com", password="wrong", address="203.0.113.9")
    assert sign_in(engine, email="ada@example.com", password="the right password", address="198.51.100.1").throttled
    with engine.begin() as conn:  # the statement docs/production.md gives, as the owner
        conn.execute(
            sa.text(
                "delete from dashboard.sign_in_attempts where account = "
                "sha256(convert_to(lower(trim('ada@example.com')), 'UTF8')) and outcome <> 'success'"
            )
        )
    assert sign_in(engine, email="ada@example.com", password="the right password", address="198.51.100.1").user_id
