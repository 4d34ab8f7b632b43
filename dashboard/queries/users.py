"""Account statements: creating users as Supabase Auth writes them, roles, passwords."""

import sqlalchemy as sa

# Columns that can be written (not generated, not an identity "always"), of a table that exists; none when it
# does not. The table's name is a bound value, looked up by to_regclass.
WRITABLE_COLUMNS = sa.text("""
select a.attname from pg_catalog.pg_attribute a
where a.attrelid = to_regclass(:table) and a.attnum > 0 and not a.attisdropped
  and a.attgenerated = '' and a.attidentity <> 'a'
order by a.attnum
""")

INSERT_ROLE = sa.text("""
insert into public.user_roles (user_id, role) values (:id, cast(:role as public.app_role)) on conflict do nothing
""")

USER_EXISTS = sa.text("select 1 from auth.users where lower(email) = :email")

# The email user's row (not a single sign-on user's with the same email, which has no password to set).
SET_PASSWORD = sa.text("""
update auth.users u set encrypted_password = :hash, updated_at = now()
where lower(u.email) = :email and coalesce((to_jsonb(u) ->> 'is_sso_user')::boolean, false) = false
returning u.id
""")

# A new password ends every session of the account (migration 0014); session_check() would notice the new hash on
# the next run anyway, this makes it so at once.
END_SESSIONS = sa.text("select dashboard.session_end_user(:id, 'password_changed')")
