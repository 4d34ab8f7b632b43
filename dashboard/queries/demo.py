"""The demo data's statements (seed-demo and the first run on the embedded database)."""

import sqlalchemy as sa

MODEL_COUNT = sa.text("select count(*) from api_models")
ACCOUNT_ID = sa.text("select id from auth.users where email = :email")

# Accounts that own the demo jobs; they have no password, so nobody can sign in as them.
INSERT_CUSTOMERS = sa.text("""
with u as (
  insert into auth.users (email) select format('customer%s@example.com', g) from generate_series(1, :n) g
  returning id, email)
insert into profiles (id, email, display_name) select id, email, split_part(email, '@', 1) from u
""")

# The models jobs are spread over, and the accounts that own them.
JOB_MODELS = sa.text("select id, display_name, is_active from api_models order by model_key, version, id")
CUSTOMERS = sa.text("select id from auth.users where encrypted_password is null order by email")
