"""Signing in as Supabase Auth would let someone in (migration 0011): on Supabase's own auth tables (built before
migrating, with quickstart profiles) and on our emulated auth.users with Supabase's columns added after.

Banned, deleted and unconfirmed accounts are refused only once the password is right; an account with a verified
TOTP factor needs its code too; accounts are written as GoTrue writes them; who is signed in comes from the
account and whatever profile the project has.
"""

import itertools
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import bcrypt
import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dashboard.database import SERVICE_ROLE, acting_as, create_db_engine
from dashboard.services import auth
from dashboard.services.auth import (
    REFUSED_BANNED,
    REFUSED_DELETED,
    REFUSED_SECOND_FACTOR,
    REFUSED_UNCONFIRMED,
    THROTTLE,
    CodeChallenge,
    SignInResult,
    load_identity,
    sign_in,
    single_sign_on,
    verify_code,
)
from dashboard.services.users import InvalidUser, create_user, set_password
from db.migrate import migrate
from tests import hostile
from tests.factories import make_user
from tests.supabase_auth import add_factor, add_supabase_auth, build_supabase_auth, gotrue_user

RIGHT = "correct horse battery"
NOTHING = SignInResult()  # a wrong email or password: nothing told
_roles = itertools.count()


@pytest.fixture
def supabase(fresh_database):
    """An engine on Supabase's auth tables and quickstart profiles, migrated after they were there."""
    engine = create_db_engine(fresh_database)
    build_supabase_auth(engine)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["supabase", "emulated"])
def shaped(request):
    """Both ways a database can hold Supabase's columns: Supabase's own tables, or ours with theirs added."""
    if request.param == "supabase":
        return request.getfixturevalue("supabase")
    engine = request.getfixturevalue("engine")
    add_supabase_auth(engine)
    return engine


@pytest.fixture
def role(supabase):
    """A role of our own on the server (roles are server-wide), dropped afterwards; no rights to begin with."""
    name = f"sign_in_test_{os.getpid()}_{next(_roles)}"
    with supabase.begin() as conn:
        conn.execute(sa.text(f'create role "{name}" nologin'))
    yield name
    with supabase.begin() as conn:
        conn.execute(sa.text(f'drop owned by "{name}"'))
        conn.execute(sa.text(f'drop role "{name}"'))


def _outcomes(engine):
    with engine.connect() as conn:
        return list(conn.execute(sa.text("select outcome from dashboard.sign_in_attempts order by id")).scalars())


def _state(engine, email):
    with engine.connect() as conn:
        return conn.execute(sa.text("select * from dashboard.sign_in_account_state(:e)"), {"e": email}).one()


# ─── The functions themselves ───────────────────────────────────────────────────────────────────


FUNCTIONS = {
    "dashboard.sign_in_account_state(text)": set(),
    "dashboard.sign_in_hash_cost()": set(),
    "dashboard.signed_in_identity()": {"authenticated"},
}


@pytest.mark.parametrize("shape", ["supabase", "engine"])
def test_every_new_function_is_a_definer_with_an_empty_search_path_a_comment_and_only_the_grants_it_needs(
    request, shape
):
    engine = request.getfixturevalue(shape)
    with engine.connect() as conn:
        for signature, allowed in FUNCTIONS.items():
            row = conn.execute(
                sa.text("""
                select p.prosecdef, p.proconfig, obj_description(p.oid, 'pg_proc') as comment,
                       coalesce(p.proacl::text[], '{}') as acl
                from pg_proc p where p.oid = cast(:f as regprocedure)
            """),
                {"f": signature},
            ).one()
            assert row.prosecdef and row.proconfig == ['search_path=""'] and row.comment, signature
            assert not any(entry.startswith("=") for entry in row.acl), signature  # nothing for PUBLIC
            for grantee in ("anon", "authenticated", "service_role"):
                may = conn.execute(
                    sa.text("select has_function_privilege(:r, cast(:f as regprocedure), 'execute')"),
                    {"r": grantee, "f": signature},
                ).scalar()
                assert may == (grantee in allowed), (signature, grantee)


def test_people_cannot_call_the_sign_in_functions(supabase):
    person = gotrue_user(supabase, "ada@example.com")
    for actor in (None, person, SERVICE_ROLE):
        for statement in (
            "select * from dashboard.sign_in_account_state('ada@example.com')",
            "select dashboard.sign_in_hash_cost()",
        ):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                with acting_as(supabase, actor) as conn:
                    conn.execute(sa.text(statement))
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        with acting_as(supabase, None) as conn:
            conn.execute(sa.text("select * from dashboard.signed_in_identity()"))


# ─── Refused, only with the right password ──────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({"banned_until": "infinity"}, REFUSED_BANNED),
        ({"banned_until": datetime.now(UTC) + timedelta(hours=1)}, REFUSED_BANNED),
        ({"deleted": True}, REFUSED_DELETED),
        ({"deleted": True, "banned_until": "infinity"}, REFUSED_DELETED),
        ({"confirmed": False}, REFUSED_UNCONFIRMED),
    ],
)
def test_banned_deleted_and_unconfirmed_accounts_are_refused_with_the_reason_only_given_the_right_password(
    shaped, account, reason
):
    gotrue_user(shaped, "ada@example.com", **account)
    assert sign_in(shaped, email="ada@example.com", password="wrong") == NOTHING
    assert sign_in(shaped, email="nobody@example.com", password="wrong") == NOTHING
    refused = sign_in(shaped, email="ADA@example.com ", password=RIGHT)
    assert refused == SignInResult(refused=reason)
    assert _outcomes(shaped) == ["failure"] * 3  # a refusal signs nobody in and resets no count


def test_a_ban_that_has_ended_no_longer_refuses(shaped):
    ada = gotrue_user(shaped, "ada@example.com", banned_until=datetime.now(UTC) - timedelta(minutes=1))
    assert sign_in(shaped, email="ada@example.com", password=RIGHT) == SignInResult(user_id=ada)
    assert _outcomes(shaped) == ["success"]


def test_the_refusal_messages_say_what_to_do_and_name_single_sign_on_for_a_second_factor():
    assert "Ask an admin" in REFUSED_BANNED
    assert "confirm" in REFUSED_UNCONFIRMED
    assert "single sign-on" in REFUSED_SECOND_FACTOR


def test_an_account_without_the_supabase_columns_signs_in_as_before(engine):
    """Our emulated auth.users (no banned_until, deleted_at, email_confirmed_at) and no auth.mfa_factors."""
    ada = make_user(engine, "admin", email="ada@example.com", password=RIGHT)
    state = _state(engine, "ada@example.com")
    assert (state.banned, state.deleted, state.unconfirmed, state.needs_totp, state.other_factor) == (
        False,
        False,
        False,
        False,
        False,
    )
    assert sign_in(engine, email="ada@example.com", password=RIGHT) == SignInResult(user_id=ada)


# ─── A second factor ────────────────────────────────────────────────────────────────────────────


def test_an_authenticator_app_account_needs_the_right_code_after_its_password(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    secret = add_factor(shaped, ada)
    assert sign_in(shaped, email="ada@example.com", password="wrong") == NOTHING  # nothing about the factor
    first = sign_in(shaped, email="ada@example.com", password=RIGHT)
    assert first.user_id is None and first.needs_code
    assert (first.challenge.user_id, first.challenge.email) == (ada, "ada@example.com")
    assert verify_code(shaped, first.challenge, code=pyotp.TOTP(secret).now()) == SignInResult(user_id=ada)
    # The wrong password stays a failure; the password step and the code both count as the success.
    assert _outcomes(shaped) == ["failure", "success", "success"]


def test_a_wrong_code_fails_and_counts_toward_the_throttle(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    secret = add_factor(shaped, ada)
    challenge = sign_in(shaped, email="ada@example.com", password=RIGHT).challenge
    wrong = str((int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000).zfill(6)
    for _ in range(THROTTLE.account_limit - 1):  # the password's attempt is the first failure until a code is right
        assert verify_code(shaped, challenge, code=wrong) == SignInResult(challenge=challenge)
    throttled = verify_code(shaped, challenge, code=pyotp.TOTP(secret).now())
    assert throttled.throttled and throttled.user_id is None and throttled.challenge == challenge
    assert sign_in(shaped, email="ada@example.com", password=RIGHT).throttled  # the account, not just the code
    assert _outcomes(shaped) == ["failure"] * THROTTLE.account_limit + ["throttled", "throttled"]


def test_codes_count_per_address_too(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    add_factor(shaped, ada)
    challenge = sign_in(shaped, email="ada@example.com", password=RIGHT, address="203.0.113.5").challenge
    verify_code(shaped, challenge, code="000000", address="203.0.113.5")
    with shaped.connect() as conn:
        addresses = conn.execute(sa.text("select host(address) from dashboard.sign_in_attempts")).scalars().all()
    assert addresses == ["203.0.113.5", "203.0.113.5"]


def test_a_code_of_the_step_before_is_accepted_and_one_of_two_steps_before_is_not(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    totp = pyotp.TOTP(add_factor(shaped, ada))
    into_step = time.time() % 30
    if into_step > 20:  # a step boundary between taking the time and checking would make "the step before" two
        time.sleep(31 - into_step)
    now = datetime.now(UTC)
    challenge = sign_in(shaped, email="ada@example.com", password=RIGHT).challenge
    assert verify_code(shaped, challenge, code=totp.at(now - timedelta(seconds=65))).user_id is None
    assert verify_code(shaped, challenge, code=totp.at(now - timedelta(seconds=30))).user_id == ada


def test_any_verified_totp_factor_gives_a_code_and_unverified_ones_do_not_count(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    old = add_factor(shaped, ada, age_seconds=3600)
    add_factor(shaped, ada)
    unverified = add_factor(shaped, ada, status="unverified")
    challenge = sign_in(shaped, email="ada@example.com", password=RIGHT).challenge
    assert verify_code(shaped, challenge, code=pyotp.TOTP(unverified).now()).user_id is None
    assert verify_code(shaped, challenge, code=pyotp.TOTP(old).now()).user_id == ada
    bob = gotrue_user(shaped, "bob@example.com")
    add_factor(shaped, bob, status="unverified")  # enrolment never finished: the password is enough
    assert sign_in(shaped, email="bob@example.com", password=RIGHT) == SignInResult(user_id=bob)


@pytest.mark.parametrize(
    "secret",
    [
        '{"key_id":"k1","alg":"aes-gcm-hkdf","nonce":"bm9uY2U=","data":"ZW5jcnlwdGVk"}',  # encrypted at rest
        None,
        "",
        "short",
    ],
)
def test_a_totp_factor_whose_secret_cannot_be_read_is_refused_naming_single_sign_on(shaped, secret):
    ada = gotrue_user(shaped, "ada@example.com")
    add_factor(shaped, ada, secret=secret)
    assert sign_in(shaped, email="ada@example.com", password="wrong") == NOTHING
    assert sign_in(shaped, email="ada@example.com", password=RIGHT) == SignInResult(refused=REFUSED_SECOND_FACTOR)
    assert _outcomes(shaped) == ["failure", "failure"]


def test_without_a_secret_column_a_totp_factor_is_refused_naming_single_sign_on(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    add_factor(shaped, ada)
    with shaped.begin() as conn:
        conn.execute(sa.text("alter table auth.mfa_factors drop column secret"))
    state = _state(shaped, "ada@example.com")
    assert (state.needs_totp, state.totp_secrets) == (True, None)
    assert sign_in(shaped, email="ada@example.com", password=RIGHT) == SignInResult(refused=REFUSED_SECOND_FACTOR)


@pytest.mark.parametrize("factor_type", ["phone", "webauthn"])
def test_a_verified_factor_this_app_cannot_check_is_refused_naming_single_sign_on(shaped, factor_type):
    ada = gotrue_user(shaped, "ada@example.com")
    add_factor(shaped, ada, factor_type=factor_type)
    assert sign_in(shaped, email="ada@example.com", password=RIGHT) == SignInResult(refused=REFUSED_SECOND_FACTOR)


def test_factors_the_functions_owner_cannot_read_let_nobody_in_on_a_password_alone(supabase, role):
    ada = gotrue_user(supabase, "ada@example.com")
    secret = add_factor(supabase, ada)
    bob = gotrue_user(supabase, "bob@example.com")
    with supabase.begin() as conn:  # an owner that may read auth.users but not auth.mfa_factors
        conn.execute(
            sa.text(
                f'grant usage on schema auth to "{role}"; grant select on auth.users to "{role}"; '
                f'alter function dashboard.sign_in_account_state(text) owner to "{role}"'
            )
        )
    for email in ("ada@example.com", "bob@example.com"):  # whether bob has a factor cannot be known either
        assert _state(supabase, email).needs_totp is None
        assert sign_in(supabase, email=email, password=RIGHT) == SignInResult(refused=REFUSED_SECOND_FACTOR)
    with supabase.begin() as conn:  # every column but the secret
        conn.execute(
            sa.text(f'grant select (id, user_id, factor_type, status, created_at) on auth.mfa_factors to "{role}"')
        )
    assert (_state(supabase, "ada@example.com").needs_totp, _state(supabase, "ada@example.com").totp_secrets) == (
        True,
        None,
    )
    assert sign_in(supabase, email="ada@example.com", password=RIGHT).refused == REFUSED_SECOND_FACTOR
    assert sign_in(supabase, email="bob@example.com", password=RIGHT) == SignInResult(user_id=bob)
    with supabase.begin() as conn:
        conn.execute(sa.text(f'grant select on auth.mfa_factors to "{role}"'))
    challenge = sign_in(supabase, email="ada@example.com", password=RIGHT).challenge
    assert verify_code(supabase, challenge, code=pyotp.TOTP(secret).now()).user_id == ada


def test_the_code_step_expires_and_sees_a_ban_made_meanwhile(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    totp = pyotp.TOTP(add_factor(shaped, ada))
    challenge = sign_in(shaped, email="ada@example.com", password=RIGHT).challenge
    late = CodeChallenge(challenge.email, challenge.user_id, challenge.attempt_id, expires_at=0)
    assert verify_code(shaped, late, code=totp.now()) == SignInResult(expired=True)
    with shaped.begin() as conn:
        conn.execute(sa.text("update auth.users set banned_until = 'infinity' where id = :u"), {"u": ada})
    assert verify_code(shaped, challenge, code=totp.now()) == SignInResult(refused=REFUSED_BANNED)
    forged = CodeChallenge("ada@example.com", uuid.uuid4(), challenge.attempt_id, challenge.expires_at)
    assert verify_code(shaped, forged, code=totp.now()) == SignInResult(expired=True)  # not ada's challenge


# ─── Single sign-on ─────────────────────────────────────────────────────────────────────────────


def test_single_sign_on_refuses_banned_and_deleted_accounts_but_not_a_second_factor(shaped):
    ok = gotrue_user(shaped, "ok@example.com", confirmed=False)
    add_factor(shaped, ok)
    gotrue_user(shaped, "banned@example.com", banned_until="infinity")
    gotrue_user(shaped, "gone@example.com", deleted=True)
    assert single_sign_on(shaped, "OK@example.com", email_verified=True) == SignInResult(user_id=ok)
    assert single_sign_on(shaped, "banned@example.com", email_verified=True) == SignInResult(refused=REFUSED_BANNED)
    assert single_sign_on(shaped, "gone@example.com", email_verified=True) == SignInResult(refused=REFUSED_DELETED)
    assert single_sign_on(shaped, "nobody@example.com", email_verified=True) == NOTHING
    assert single_sign_on(shaped, "banned@example.com", email_verified=True).user_id is None


def test_an_email_shared_with_a_single_sign_on_user_signs_in_the_email_user(supabase):
    gotrue_user(supabase, "ada@example.com", password=None, sso=True)
    ada = gotrue_user(supabase, "ada@example.com")
    gotrue_user(supabase, "ada@example.com", password=None, sso=True)
    assert sign_in(supabase, email="ada@example.com", password=RIGHT) == SignInResult(user_id=ada)


# ─── Who is signed in ───────────────────────────────────────────────────────────────────────────


def test_quickstart_profiles_sign_in_with_the_accounts_email_and_their_full_name(supabase):
    ada = gotrue_user(supabase, "ada@example.com", full_name="Ada Lovelace", role="admin")  # the trigger's profile
    assert sign_in(supabase, email="ada@example.com", password=RIGHT).user_id == ada
    identity = load_identity(supabase, ada)
    assert (identity.email, identity.display_name, identity.is_admin, identity.refused) == (
        "ada@example.com",
        "Ada Lovelace",
        True,
        None,
    )
    bob = gotrue_user(supabase, "bob@example.com")
    with supabase.begin() as conn:
        conn.execute(sa.text("update profiles set username = 'bobby' where id = :u"), {"u": bob})
    assert (load_identity(supabase, bob).display_name, load_identity(supabase, bob).is_admin) == ("bobby", False)
    with supabase.begin() as conn:
        conn.execute(sa.text("delete from profiles where id = :u"), {"u": bob})
    assert (load_identity(supabase, bob).email, load_identity(supabase, bob).display_name) == (
        "bob@example.com",
        "bob@example.com",
    )


def test_our_profiles_email_and_display_name_win(engine):
    ada = make_user(engine, email="ada@example.com")
    with engine.begin() as conn:
        conn.execute(
            sa.text("update profiles set email = 'ada@work.example', display_name = 'Ada' where id = :u"), {"u": ada}
        )
    identity = load_identity(engine, ada)
    assert (identity.email, identity.display_name) == ("ada@work.example", "Ada")


def test_identity_is_each_persons_own_and_says_when_they_were_banned_or_deleted_since(shaped):
    ada = gotrue_user(shaped, "ada@example.com")
    bob = gotrue_user(shaped, "bob@example.com")
    with acting_as(shaped, bob) as conn:
        assert conn.execute(sa.text("select email from dashboard.signed_in_identity()")).scalars().all() == [
            "bob@example.com"
        ]
    with shaped.begin() as conn:
        conn.execute(sa.text("update auth.users set banned_until = now() + interval '1 day' where id = :u"), {"u": ada})
        conn.execute(sa.text("update auth.users set deleted_at = now() where id = :u"), {"u": bob})
    assert load_identity(shaped, ada).refused == REFUSED_BANNED
    assert load_identity(shaped, bob).refused == REFUSED_DELETED
    with shaped.begin() as conn:
        conn.execute(sa.text("delete from auth.users where id = :u"), {"u": bob})
    assert load_identity(shaped, bob) is None


# ─── The dummy check of an unknown email ────────────────────────────────────────────────────────


def _checked_hashes(monkeypatch):
    stored = []
    monkeypatch.setattr(auth, "_password_matches", lambda secret, hashed: stored.append(hashed) or False)
    return stored


@pytest.mark.parametrize("cost", [10, 11])
def test_an_unknown_emails_dummy_hash_costs_what_the_accounts_hashes_cost(supabase, monkeypatch, cost):
    gotrue_user(supabase, "ada@example.com", cost=cost)
    stored = _checked_hashes(monkeypatch)
    sign_in(supabase, email="ada@example.com", password="wrong")
    sign_in(supabase, email="nobody@example.com", password="wrong")
    assert stored[0].startswith(f"$2a${cost}$".encode()) and stored[1] == auth.dummy_hash(cost)
    assert stored[1].startswith(f"$2b${cost}$".encode())
    assert auth.dummy_hash(cost) is auth.dummy_hash(cost)  # made once per process


def test_the_cost_is_the_newest_hashs_and_10_without_any(supabase):
    def cost():
        with supabase.connect() as conn:
            return conn.execute(sa.text("select dashboard.sign_in_hash_cost()")).scalar()

    assert cost() == 10
    gotrue_user(supabase, "sso@example.com", password=None, sso=True)  # no hash: ''
    with supabase.begin() as conn:
        conn.execute(sa.text("update auth.users set encrypted_password = '$argon2id$v=19$m=65536,t=3,p=4$abc'"))
    assert cost() == 10
    gotrue_user(supabase, "old@example.com", cost=4, updated_at=datetime.now(UTC) - timedelta(days=1))
    gotrue_user(supabase, "new@example.com", cost=11)
    assert cost() == 11
    set_password(supabase, email="old@example.com", password="a brand new password", rounds=5)
    assert cost() == 5


def test_the_app_reads_the_cost_again_after_a_while(supabase, monkeypatch):
    gotrue_user(supabase, "ada@example.com", cost=4)
    stored = _checked_hashes(monkeypatch)
    sign_in(supabase, email="nobody@example.com", password="wrong")
    gotrue_user(supabase, "bob@example.com", cost=5)
    sign_in(supabase, email="nobody@example.com", password="wrong")
    assert stored[0] == stored[1] == auth.dummy_hash(4)  # cached
    monkeypatch.setattr(auth, "_HASH_COST_SECONDS", 0.0)
    sign_in(supabase, email="nobody@example.com", password="wrong")
    assert stored[2] == auth.dummy_hash(5)


# ─── Accounts written as Supabase Auth writes them ──────────────────────────────────────────────


def test_create_user_writes_what_supabase_auth_writes_and_the_account_signs_in(supabase):
    user_id = create_user(supabase, email=" Ada@Example.com ", password=RIGHT, role="admin")
    assert user_id.version == 4
    with supabase.connect() as conn:
        user = conn.execute(sa.text("select * from auth.users where id = :u"), {"u": user_id}).mappings().one()
        identities = (
            conn.execute(sa.text("select * from auth.identities where user_id = :u"), {"u": user_id}).mappings().all()
        )
        profiles = conn.execute(sa.text("select * from profiles where id = :u"), {"u": user_id}).mappings().all()
        roles = conn.execute(sa.text("select role::text from user_roles where user_id = :u"), {"u": user_id}).all()
    assert str(user["instance_id"]) == "00000000-0000-0000-0000-000000000000"
    assert (user["aud"], user["role"], user["email"]) == ("authenticated", "authenticated", "ada@example.com")
    assert user["email_confirmed_at"] is not None and user["confirmed_at"] == user["email_confirmed_at"]
    assert user["raw_app_meta_data"] == {"provider": "email", "providers": ["email"]}
    assert user["raw_user_meta_data"] == {}
    assert user["created_at"] is not None and user["updated_at"] is not None
    assert user["encrypted_password"].startswith("$2a$10$")
    assert bcrypt.checkpw(RIGHT.encode(), user["encrypted_password"].encode())
    # GoTrue cannot read a NULL in these (supabase/auth#1940): '' as it writes them.
    assert [
        user[c]
        for c in (
            "confirmation_token",
            "recovery_token",
            "email_change_token_new",
            "email_change",
            "email_change_token_current",
            "reauthentication_token",
        )
    ] == [""] * 6
    assert not user["is_sso_user"] and not user["is_anonymous"] and user["banned_until"] is None
    [identity] = identities
    assert (identity["provider"], identity["provider_id"], identity["email"]) == (
        "email",
        str(user_id),
        "ada@example.com",
    )
    assert identity["identity_data"] == {"sub": str(user_id), "email": "ada@example.com", "email_verified": True}
    assert identity["last_sign_in_at"] is not None and identity["id"] is not None
    assert len(profiles) == 1  # the project's trigger made it; ours did not collide with it
    assert roles == [("admin",)]
    assert sign_in(supabase, email="ada@example.com", password=RIGHT) == SignInResult(user_id=user_id)
    identity = load_identity(supabase, user_id)
    assert (identity.email, identity.display_name, identity.is_admin) == ("ada@example.com", "ada@example.com", True)


def test_create_user_on_our_own_tables_writes_the_columns_they_have(engine):
    user_id = create_user(engine, email="ada@example.com", password=RIGHT, role="user")
    with engine.connect() as conn:
        user = conn.execute(sa.text("select * from auth.users where id = :u"), {"u": user_id}).mappings().one()
        profile = conn.execute(sa.text("select email, display_name from profiles where id = :u"), {"u": user_id}).one()
    assert user["encrypted_password"].startswith("$2a$10$") and user["raw_user_meta_data"] == {}
    assert tuple(profile) == ("ada@example.com", "ada")
    assert sign_in(engine, email="ada@example.com", password=RIGHT).user_id == user_id


def test_set_password_writes_supabases_hash_and_leaves_a_single_sign_on_user_alone(supabase):
    ada = gotrue_user(supabase, "ada@example.com", cost=4)
    sso = gotrue_user(supabase, "ada@example.com", password=None, sso=True)
    set_password(supabase, email="ADA@example.com", password="a brand new password")
    with supabase.connect() as conn:
        hashes = dict(conn.execute(sa.text("select id, encrypted_password from auth.users")).all())
    assert hashes[ada].startswith("$2a$10$") and hashes[sso] == ""
    assert sign_in(supabase, email="ada@example.com", password="a brand new password").user_id == ada


def _engine_as(url, role):
    """An engine whose connections run as role (the server's login role switches to it on connect)."""
    return sa.create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), connect_args={"options": f"-c role={role}"}
    )


def test_a_role_that_may_not_write_auth_is_told_to_use_supabase_auth_in_one_line(supabase, role):
    gotrue_user(supabase, "ada@example.com")
    with supabase.begin() as conn:  # like Supabase's postgres since 2024: it may read auth, not write it
        conn.execute(
            sa.text(
                f'grant usage on schema auth to "{role}"; grant select on auth.users, auth.identities to "{role}"; '
                f'grant select, insert on public.profiles, public.user_roles to "{role}"'
            )
        )
    limited = _engine_as(supabase.url.render_as_string(hide_password=False), role)
    try:
        with pytest.raises(InvalidUser) as created:
            create_user(limited, email="o'hara@example.com", password=RIGHT, role="admin")
        with pytest.raises(InvalidUser) as reset:
            set_password(limited, email="ada@example.com", password="a brand new password")
    finally:
        limited.dispose()
    message = str(created.value)
    assert len(message.splitlines()) == 1 and "permission denied" in message and "Supabase Auth" in message
    assert "insert into public.user_roles (user_id, role) select id, 'admin' from auth.users " in message
    assert message.endswith("where email = 'o''hara@example.com';")  # a literal that can be pasted as it is
    assert len(str(reset.value).splitlines()) == 1 and "Supabase Auth" in str(reset.value)
    with supabase.connect() as conn:
        assert conn.execute(sa.text("select count(*) from auth.users")).scalar() == 1


# ─── Hostile input ──────────────────────────────────────────────────────────────────────────────

HOSTILE = hostile.EMAILS


def test_hostile_emails_passwords_and_codes_are_just_failures(supabase):
    ada = gotrue_user(supabase, "ada@example.com")
    totp = pyotp.TOTP(add_factor(supabase, ada))
    for text in HOSTILE:
        assert sign_in(supabase, email=text, password=text) == NOTHING, repr(text)[:60]
        with supabase.begin() as conn:
            conn.execute(sa.text("delete from dashboard.sign_in_attempts"))  # stay under the limits
    challenge = sign_in(supabase, email="ada@example.com", password=RIGHT).challenge
    codes = ["\x00", "1" * 100_000, "' or 1=1 --", totp.now() + "\x00", "１２３４５６", "-12345", "12345e", "\ud800"]
    for code in codes:
        assert verify_code(supabase, challenge, code=code) == SignInResult(challenge=challenge), repr(code)[:60]
        with supabase.begin() as conn:
            conn.execute(
                sa.text("delete from dashboard.sign_in_attempts where outcome = 'failure' and id <> :a"),
                {"a": challenge.attempt_id},
            )
    spaced = " ".join([totp.now()[:3], totp.now()[3:]])  # as authenticator apps show it
    assert verify_code(supabase, challenge, code=spaced).user_id == ada
    with supabase.connect() as conn:
        assert conn.execute(sa.text("select count(*) from auth.users")).scalar() == 1


def test_emails_with_quotes_and_sql_are_stored_and_signed_in_as_written(shaped):
    for email in ("o'hara@example.com", "x');drop-table--@example.com", "a%b_c@example.com"):
        user_id = create_user(shaped, email=email, password=RIGHT, role="user")
        assert sign_in(shaped, email=email.upper(), password=RIGHT).user_id == user_id
        assert load_identity(shaped, user_id).email == email
    assert sign_in(shaped, email="a%b_c@example.co", password=RIGHT) == NOTHING
    with shaped.connect() as conn:
        assert conn.execute(sa.text("select count(*) from auth.users")).scalar() == 3
