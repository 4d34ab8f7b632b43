"""Sign-in's statements: account and identity reads and throttled attempts (migrations 0007 and 0011)."""

import sqlalchemy as sa

# Through security definer functions (migration 0011): the login role needs no right on auth.users.
ACCOUNT = sa.text("""
SELECT id, encrypted_password, banned, deleted, unconfirmed, needs_totp, totp_secrets, other_factor
FROM dashboard.sign_in_account_state(:email)
""")

HASH_COST = sa.text("SELECT dashboard.sign_in_hash_cost()")

IDENTITY = sa.text("""
SELECT i.email, i.display_name, i.banned, i.deleted,
       public.has_role(auth.uid(), 'admin'::public.app_role) AS is_admin
FROM dashboard.signed_in_identity() i
""")

BEGIN_ATTEMPT = sa.text("""
SELECT attempt_id, retry_after
FROM dashboard.begin_sign_in_attempt(:account, cast(:address AS inet), :account_limit, :address_limit, :window)
""")

SUCCEEDED = sa.text("SELECT dashboard.sign_in_attempt_succeeded(:attempt_id)")
