"""Sessions' statements: migration 0014's functions, the only way the app reads or writes dashboard.sessions."""

import sqlalchemy as sa

START = sa.text("SELECT dashboard.session_start(:user_id, :user_agent, cast(:address AS inet), :lifetime)")

HANDOFF = sa.text("SELECT dashboard.session_handoff_create(:session_id, :code_hash, :browser_hash, :ttl)")

REDEEM = sa.text("SELECT session_id, expires_at FROM dashboard.session_handoff_redeem(:code_hash, :browser, :token)")

CHECK = sa.text("""
SELECT session_id, user_id, status, started_as_admin FROM dashboard.session_check(:token_hash, :session_id, :idle)
""")

END = sa.text("SELECT dashboard.session_end(:session_id, :reason)")

END_USER = sa.text("SELECT dashboard.session_end_user(:user_id, :reason)")

LIST = sa.text("""
SELECT id, user_id, email, user_agent, host(address) AS address, created_at, last_seen_at, expires_at, ended_at,
       ended_reason
FROM dashboard.session_list(:include_ended)
""")
