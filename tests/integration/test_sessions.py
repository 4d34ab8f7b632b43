"""Sessions (migration 0014, dashboard/services/sessions.py): tokens kept hashed, expiry, ending, who may see them."""

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as
from dashboard.services import sessions
from dashboard.services.errors import NotAllowed
from dashboard.services.users import set_password
from tests.factories import make_user
from tests.supabase_auth import add_supabase_auth

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)


def _signed_in(engine, user_id, *, browser=None):
    """A session handed to a browser: (session id, cookie token)."""
    browser = browser or sessions.new_token()
    session_id = sessions.start_session(
        engine, user_id, lifetime=LIFETIME, user_agent="Mozilla/5.0 test", address="203.0.113.7"
    )
    code = sessions.make_handoff(engine, session_id, browser)
    redeemed = sessions.redeem_handoff(engine, code, browser)
    assert redeemed is not None
    return session_id, redeemed.token


def _row(engine, session_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("select * from dashboard.sessions where id = :i"), {"i": session_id}).one()


def _age(engine, session_id, *, seen_ago=None, expires_in=None):
    with engine.begin() as conn:
        if seen_ago is not None:
            conn.execute(
                sa.text("update dashboard.sessions set last_seen_at = now() - :a where id = :i"),
                {"a": seen_ago, "i": session_id},
            )
        if expires_in is not None:
            conn.execute(
                sa.text("update dashboard.sessions set expires_at = now() + :a where id = :i"),
                {"a": expires_in, "i": session_id},
            )


def test_a_handed_off_token_signs_in_and_only_its_hash_is_kept(engine):
    ada = make_user(engine, "admin", email="ada@example.com")
    session_id, token = _signed_in(engine, ada)
    check = sessions.check_session(engine, token=token, idle=IDLE)
    assert check.session_id == session_id and check.identity.user_id == ada and check.identity.is_admin
    row = _row(engine, session_id)
    assert bytes(row.token_hash) == hashlib.sha256(token.encode()).digest()
    assert row.user_agent == "Mozilla/5.0 test" and str(row.address) == "203.0.113.7"
    with engine.connect() as conn:
        everything = (
            conn.execute(
                sa.text("""
            select string_agg(t::text, ' ') from (select * from dashboard.sessions) t
            union all select string_agg(h::text, ' ') from (select * from dashboard.session_handoffs) h
        """)
            )
            .scalars()
            .all()
        )
    assert not any(token in (text or "") for text in everything)


def test_a_handoff_code_works_once_in_the_browser_it_was_made_for_and_for_a_minute(engine):
    ada = make_user(engine, email="ada@example.com")
    mine, theirs = sessions.new_token(), sessions.new_token()
    session_id = sessions.start_session(engine, ada, lifetime=LIFETIME)
    code = sessions.make_handoff(engine, session_id, mine)
    assert sessions.redeem_handoff(engine, code, theirs) is None  # another browser: refused, and the code is spent
    assert sessions.redeem_handoff(engine, code, mine) is None
    assert sessions.make_handoff(engine, session_id, mine) is not None  # no token yet: a new code may be made

    other = sessions.start_session(engine, ada, lifetime=LIFETIME)
    late = sessions.make_handoff(engine, other, mine)
    with engine.begin() as conn:
        conn.execute(sa.text("update dashboard.session_handoffs set expires_at = now() - interval '1 second'"))
    assert sessions.redeem_handoff(engine, late, mine) is None

    third = sessions.start_session(engine, ada, lifetime=LIFETIME)
    code = sessions.make_handoff(engine, third, mine)
    assert sessions.redeem_handoff(engine, code, mine) is not None
    assert sessions.redeem_handoff(engine, code, mine) is None  # used
    assert sessions.make_handoff(engine, third, mine) is None  # it has its token: no second cookie for it


def test_a_browser_without_a_usable_cookie_gets_no_handoff(engine):
    ada = make_user(engine, email="ada@example.com")
    session_id = sessions.start_session(engine, ada, lifetime=LIFETIME)
    for browser in (None, "", "short", "x" * 5000, "é" * 43, "' or 1=1 --" * 4):
        assert sessions.make_handoff(engine, session_id, browser) is None


def test_idle_and_absolute_expiry_end_the_session_and_say_why(engine):
    ada = make_user(engine, email="ada@example.com")
    idle_id, idle_token = _signed_in(engine, ada)
    _age(engine, idle_id, seen_ago=timedelta(minutes=31))
    assert sessions.check_session(engine, token=idle_token, idle=IDLE).ended == sessions.IDLE
    _age(engine, idle_id, seen_ago=timedelta(seconds=0))
    assert sessions.check_session(engine, token=idle_token, idle=IDLE).ended == sessions.IDLE  # ended stays ended

    old_id, old_token = _signed_in(engine, ada)
    _age(engine, old_id, expires_in=timedelta(seconds=-1))
    check = sessions.check_session(engine, token=old_token, idle=IDLE)
    assert check.identity is None and check.ended == sessions.EXPIRED
    assert _row(engine, old_id).ended_reason == sessions.EXPIRED


def test_a_check_touches_last_seen_at_most_once_a_minute(engine):
    ada = make_user(engine, email="ada@example.com")
    session_id, token = _signed_in(engine, ada)
    _age(engine, session_id, seen_ago=timedelta(seconds=20))
    before = _row(engine, session_id).last_seen_at
    sessions.check_session(engine, token=token, idle=IDLE)
    assert _row(engine, session_id).last_seen_at == before
    _age(engine, session_id, seen_ago=timedelta(minutes=5))
    sessions.check_session(engine, token=token, idle=IDLE)
    assert _row(engine, session_id).last_seen_at > before


def test_signing_out_ends_the_session_for_every_tab(engine):
    ada = make_user(engine, email="ada@example.com")
    session_id, token = _signed_in(engine, ada)
    assert sessions.end_session(engine, session_id)
    assert not sessions.end_session(engine, session_id)
    assert sessions.check_session(engine, token=token, idle=IDLE).ended == sessions.SIGNED_OUT
    assert sessions.check_session(engine, session_id=session_id, idle=IDLE).ended == sessions.SIGNED_OUT


def test_a_new_password_ends_every_session_of_the_account_and_no_one_elses(engine):
    ada = make_user(engine, email="ada@example.com")
    bob = make_user(engine, email="bob@example.com")
    (_, first), (_, second), (_, bobs) = _signed_in(engine, ada), _signed_in(engine, ada), _signed_in(engine, bob)
    set_password(engine, email="ada@example.com", password="a brand new password", rounds=4)
    assert sessions.check_session(engine, token=first, idle=IDLE).ended == sessions.PASSWORD_CHANGED
    assert sessions.check_session(engine, token=second, idle=IDLE).ended == sessions.PASSWORD_CHANGED
    assert sessions.check_session(engine, token=bobs, idle=IDLE).identity is not None


def test_a_password_changed_elsewhere_ends_the_sessions_on_their_next_check(engine):
    """Supabase Auth changes the hash itself: the stamp taken at the start no longer matches."""
    ada = make_user(engine, email="ada@example.com")
    (_, first), (two, _) = _signed_in(engine, ada), _signed_in(engine, ada)
    with engine.begin() as conn:
        conn.execute(sa.text("update auth.users set encrypted_password = '$2a$04$elsewhere' where id = :u"), {"u": ada})
    assert sessions.check_session(engine, token=first, idle=IDLE).ended == sessions.PASSWORD_CHANGED
    assert _row(engine, two).ended_reason == sessions.PASSWORD_CHANGED  # all of the account's, at once
    later = sessions.start_session(engine, ada, lifetime=LIFETIME)  # with the new hash: fine
    assert sessions.check_session(engine, session_id=later, idle=IDLE).identity is not None


def test_a_ban_and_a_deletion_end_the_sessions(engine):
    add_supabase_auth(engine)
    ada = make_user(engine, email="ada@example.com")
    bob = make_user(engine, email="bob@example.com")
    (_, adas), (_, bobs) = _signed_in(engine, ada), _signed_in(engine, bob)
    with engine.begin() as conn:
        conn.execute(sa.text("update auth.users set banned_until = now() + interval '1 day' where id = :u"), {"u": ada})
        conn.execute(sa.text("update auth.users set deleted_at = now() where id = :u"), {"u": bob})
    assert sessions.check_session(engine, token=adas, idle=IDLE).ended == sessions.BANNED
    assert sessions.check_session(engine, token=bobs, idle=IDLE).ended == sessions.DELETED
    assert sessions.start_session(engine, ada, lifetime=LIFETIME) is None  # banned: no new one either


def test_a_revoked_admin_role_ends_every_session_of_the_person(engine):
    """The role is read again on every check: a session begun as an admin ends, with all of theirs, when it goes."""
    ada = make_user(engine, "admin", email="ada@example.com")
    first, token = _signed_in(engine, ada)
    _, other = _signed_in(engine, ada)
    with engine.begin() as conn:
        conn.execute(sa.text("delete from public.user_roles where user_id = :u"), {"u": ada})
    check = sessions.check_session(engine, token=token, idle=IDLE)
    assert check.identity is None and check.ended == sessions.ROLE_REVOKED
    assert sessions.check_session(engine, token=other, idle=IDLE).ended == sessions.ROLE_REVOKED
    with pytest.raises(NotAllowed):
        sessions.SessionAdmin(engine, user_id=ada).list_sessions()
    # Signing in again starts a viewer's session, which a role never granted cannot end.
    _, fresh = _signed_in(engine, ada)
    again = sessions.check_session(engine, token=fresh, idle=IDLE)
    assert again.identity is not None and not again.identity.is_admin


def test_a_viewer_made_admin_keeps_the_session_and_gains_the_role(engine):
    bob = make_user(engine, email="bob@example.com")
    _, token = _signed_in(engine, bob)
    with engine.begin() as conn:
        conn.execute(sa.text("insert into public.user_roles (user_id, role) values (:u, 'admin')"), {"u": bob})
    check = sessions.check_session(engine, token=token, idle=IDLE)
    assert check.identity is not None and check.identity.is_admin


@pytest.mark.parametrize(
    "cookie",
    [
        "",
        " ",
        "x" * 100_000,
        "é" * 43,
        "\x00" * 43,
        "'; drop table dashboard.sessions; --",
        "A" * 43,
        "%00" * 20,
        "a" * 31,
        "a" * 65,
    ],
)
def test_hostile_cookie_values_are_nobody(engine, cookie):
    ada = make_user(engine, email="ada@example.com")
    _signed_in(engine, ada)
    check = sessions.check_session(engine, token=cookie, idle=IDLE)
    assert check == sessions.SessionCheck()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from dashboard.sessions")).scalar() == 1


def test_the_stored_hash_itself_is_not_a_token(engine):
    """Someone who read another person's hash (a backup, a log) cannot use it as a cookie."""
    ada = make_user(engine, email="ada@example.com")
    session_id, _ = _signed_in(engine, ada)
    stored = bytes(_row(engine, session_id).token_hash)
    for cookie in (stored.hex(), __import__("base64").urlsafe_b64encode(stored).decode().rstrip("=")):
        assert sessions.check_session(engine, token=cookie, idle=IDLE) == sessions.SessionCheck()


def test_an_admin_lists_and_ends_sessions_and_a_viewer_may_not(engine):
    ada = make_user(engine, "admin", email="ada@example.com")
    vic = make_user(engine, email="vic@example.com")
    (_, adas), (vic_one, vics) = _signed_in(engine, ada), _signed_in(engine, vic)
    _, vics_two = _signed_in(engine, vic)
    admin = sessions.SessionAdmin(engine, user_id=ada)
    listed = admin.list_sessions()
    assert {row.email for row in listed} == {"ada@example.com", "vic@example.com"} and len(listed) == 3
    assert all(row.user_agent == "Mozilla/5.0 test" and row.address == "203.0.113.7" for row in listed)
    assert admin.end(vic_one)
    assert sessions.check_session(engine, token=vics, idle=IDLE).ended == sessions.ENDED_BY_ADMIN
    assert admin.end_all_for(vic) == 1
    assert sessions.check_session(engine, token=vics_two, idle=IDLE).ended == sessions.ENDED_BY_ADMIN
    assert len(admin.list_sessions()) == 1 and len(admin.list_sessions(include_ended=True)) == 3
    viewer = sessions.SessionAdmin(engine, user_id=vic)
    for call in (viewer.list_sessions, lambda: viewer.end(vic_one), lambda: viewer.end_all_for(ada)):
        with pytest.raises(NotAllowed):
            call()
    assert sessions.check_session(engine, token=adas, idle=IDLE).identity is not None


SESSION_FUNCTIONS = [
    "dashboard.prune_sessions(interval)",
    "dashboard.session_start(uuid, text, inet, interval)",
    "dashboard.session_handoff_create(uuid, bytea, bytea, interval)",
    "dashboard.session_handoff_redeem(bytea, bytea, bytea)",
    "dashboard.session_check(bytea, uuid, interval)",
    "dashboard.session_end(uuid, text)",
    "dashboard.session_end_user(uuid, text)",
    "dashboard.session_list(boolean)",
]


def test_the_functions_are_definers_with_an_empty_search_path_and_nobody_elses(engine):
    with engine.connect() as conn:
        for signature in SESSION_FUNCTIONS:
            row = conn.execute(
                sa.text("""
                select p.prosecdef, p.proconfig, obj_description(p.oid, 'pg_proc') as comment,
                       coalesce(p.proacl::text[], '{}') as acl
                from pg_proc p where p.oid = cast(:f as regprocedure)
            """),
                {"f": signature},
            ).one()
            assert row.prosecdef and row.proconfig == ['search_path=""'] and row.comment, signature
            assert not any(entry.startswith("=") for entry in row.acl), signature
            for grantee in ("anon", "authenticated", "service_role"):
                may = conn.execute(
                    sa.text("select has_function_privilege(:r, cast(:f as regprocedure), 'execute')"),
                    {"r": grantee, "f": signature},
                ).scalar()
                assert not may, (signature, grantee)


def test_people_cannot_read_or_write_the_sessions(engine):
    ada = make_user(engine, "admin", email="ada@example.com")
    _signed_in(engine, ada)
    for actor in (None, ada, SERVICE_ROLE):
        for statement in (
            "select * from dashboard.sessions",
            "select * from dashboard.session_handoffs",
            "delete from dashboard.sessions",
            "select * from dashboard.session_list(true)",
            "select dashboard.session_end_user(gen_random_uuid(), 'signed_out')",
        ):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                with acting_as(engine, actor) as conn:
                    conn.execute(sa.text(statement))


def test_tokens_and_user_agents_are_cleaned_before_they_are_kept():
    assert sessions.token_hash(sessions.new_token()) is not None
    assert len(sessions.new_token()) == 43
    assert sessions.clean_user_agent("a\x00b\nc" + "x" * 1000) == ("a b c" + "x" * 1000)[:300]
    assert sessions.clean_user_agent(None) is None and sessions.clean_user_agent("\ud800") is None
    assert sessions.clean_address("203.0.113.7") == "203.0.113.7" and sessions.clean_address("not an ip") is None
    assert sessions.clean_address("fe80::1%eth0") == "fe80::1"
