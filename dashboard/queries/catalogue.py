"""Read-side SQL for the pages: slot summaries, overview counts, the data version."""

from collections.abc import Collection

import sqlalchemy as sa

from dashboard.queries.tables import ROUTING_ORDER, RULE_COLUMNS, api_models, api_providers, models_with_providers
from dashboard.queries.transfer import EXPORT

# The models of every slot that its pick and findings depend on (routing_rules.relevant_models: its defaults and
# its first two models when those that can take jobs come first, then the other active ones), each with its rule
# columns, its place in that order (its name_rank: a tie-breaker that agrees with ROUTING_ORDER) and the slot's
# counts. Reading only these keeps the slot list at a few rows per slot however large the catalogue; the rules
# themselves (routing order, can take jobs, findings) are applied in Python, by dashboard.services.routing_rules.
_m = api_models
_slot = (_m.c.modality, _m.c.task)
_can_take_jobs = sa.and_(_m.c.is_active, api_providers.c.is_active)


def _in_slots(slots: Collection[tuple[str, str]] | None) -> list:
    """No condition, or the rows of these slots only (whole slots: each window below is one slot's). Compared as the
    columns are, so that the comparison may be made before the per-row policy (it leaks nothing) and by the index."""
    if slots is None:
        return []
    return [sa.tuple_(*_slot).in_(sorted(slots)) if slots else sa.false()]


def slot_facts(slots: Collection[tuple[str, str]] | None = None) -> sa.Select:
    """SLOT_FACTS, of every slot or of these (modality, task) slots only."""
    facts = (
        sa.select(
            *RULE_COLUMNS,
            sa.func.row_number()
            .over(partition_by=_slot, order_by=(_can_take_jobs.desc(), _m.c.is_active.desc(), *ROUTING_ORDER))
            .label("name_rank"),
            sa.func.count().over(partition_by=_slot).label("models_in_slot"),
            sa.func.count().filter(_m.c.is_active).over(partition_by=_slot).label("active_in_slot"),
            sa.func.count().filter(_can_take_jobs).over(partition_by=_slot).label("candidates_in_slot"),
        )
        .select_from(models_with_providers)
        .where(*_in_slots(slots))
        .subquery()
    )
    return (
        sa.select(facts)
        .where(sa.or_(facts.c.is_default, facts.c.name_rank <= 2))
        .order_by(facts.c.modality, facts.c.task, facts.c.name_rank)
    )


def slot_picks(slots: Collection[tuple[str, str]] | None = None) -> sa.Select:
    """SLOT_PICKS, of every slot or of these (modality, task) slots only."""
    candidates = (
        sa.select(
            *RULE_COLUMNS, sa.func.row_number().over(partition_by=_slot, order_by=ROUTING_ORDER).label("name_rank")
        )
        .select_from(models_with_providers)
        .where(_can_take_jobs, *_in_slots(slots))
        .subquery()
    )
    return (
        sa.select(candidates)
        .where(candidates.c.name_rank <= 2)
        .order_by(candidates.c.modality, candidates.c.task, candidates.c.name_rank)
    )


SLOT_FACTS = slot_facts()

# Each slot's first two models that can take jobs, in the routing order (name_rank agrees with ROUTING_ORDER, as in
# SLOT_FACTS): its pick and its next in line, for what needs only those (Health). Only rows that can take jobs are
# wanted, so an inactive model's row is never returned, and the seed's read policy is checked on active rows only.
SLOT_PICKS = slot_picks()

# Every model of the slot of :id, with the rule columns, in the database's order of (display_name, id).
MODELS_OF_SLOT_OF = (
    sa.select(*RULE_COLUMNS)
    .select_from(models_with_providers)
    .where(sa.tuple_(*_slot).in_(sa.select(*_slot).where(_m.c.id == sa.bindparam("id"))))
    .order_by(_m.c.display_name, _m.c.id)
)

CATALOGUE_COUNTS = sa.text("""
SELECT
    (SELECT count(*) FROM api_models WHERE is_active) AS active_models,
    (SELECT count(*) FROM api_models) AS models,
    (SELECT count(*) FROM api_providers WHERE is_active) AS active_providers,
    (SELECT count(*) FROM api_providers) AS providers,
    (SELECT count(*) FROM api_models WHERE is_default AND is_active) AS defaults
""")

CATALOGUE_EXISTS = sa.text("SELECT to_regclass('public.api_models') IS NOT NULL")


# A platform's own jobs policies that let signed-in people write a job's status or rating (so forge the usage
# and failure figures): permissive INSERT/UPDATE policies for them that are not admin-only, where their role
# holds the column privilege. Nothing for the jobs table the dashboard created (0012 closes it).
JOB_POLICIES_OPEN_TO_PEOPLE = sa.text("""
SELECT DISTINCT p.policyname
FROM pg_policies p
JOIN pg_attribute a ON a.attrelid = to_regclass('public.jobs') AND a.attname IN ('status', 'quality_rating')
                   AND NOT a.attisdropped
WHERE p.schemaname = 'public' AND p.tablename = 'jobs' AND p.permissive = 'PERMISSIVE'
  AND p.cmd IN ('INSERT', 'UPDATE', 'ALL') AND p.roles && ARRAY['authenticated', 'public']::name[]
  AND coalesce(p.qual, '') || coalesce(p.with_check, '') NOT LIKE '%has_role%'
  AND has_column_privilege('authenticated', a.attrelid, a.attnum,
                           CASE p.cmd WHEN 'INSERT' THEN 'INSERT' ELSE 'UPDATE' END)
  AND NOT EXISTS (SELECT 1 FROM dashboard.created_objects o WHERE o.object = 'public.jobs')
ORDER BY 1
""")

# Bumped by a statement trigger on every write to api_models and api_providers (migration 0010).
# (writes, settled): how many catalogue writes, and whether none is uncommitted (migration 0018); known is a count
# already seen settled, which stays so.
DATA_VERSION = sa.text("SELECT writes, settled FROM dashboard.catalogue_version(:known)")

DISTINCT_TASKS = sa.text("SELECT DISTINCT modality, task FROM api_models ORDER BY modality, task")


# ─── Browsing ──────────────────────────────────────────────────────────────────────────────────
# The Models page's rows (services.catalogue adds the filters, the order and the page). The provider is shown by
# its display name, as the page's provider filter names it; exports keep api_providers.name (what import matches).
BROWSE = sa.select(
    api_models.c.id,
    api_models.c.display_name,
    api_models.c.model_key,
    api_models.c.version,
    api_models.c.modality,
    api_models.c.task,
    api_models.c.model_family,
    api_providers.c.display_name.label("provider_name"),
    api_providers.c.is_active.label("provider_active"),
    api_models.c.is_active,
    api_models.c.is_default,
    api_models.c.priority,
    api_models.c.pricing,
    api_models.c.updated_at,
).select_from(models_with_providers)

# The Models page's export: the one export query (queries.transfer.EXPORT, which import reads back) with the
# row's timestamps, so a file says which rows and versions it holds (import ignores them).
MODELS_EXPORT = EXPORT.add_columns(api_models.c.created_at, api_models.c.updated_at)

# Every visible model's id and name, with its provider's to tell namesakes apart (services.catalogue orders them:
# choice_order).
MODEL_CHOICES = sa.select(
    api_models.c.id, api_models.c.display_name, api_providers.c.display_name.label("provider_name")
).select_from(models_with_providers)


# ─── Cold reads ────────────────────────────────────────────────────────────────────────────────
# The policies that decide which rows a read returns (SELECT and ALL) on the catalogue's tables and on jobs (the
# Overview counts them), with whether RLS is on for the table; services.catalogue.read_policies judges them.
# The expressions come as pg_get_expr prints them, whatever the search_path: the service normalises them.
READ_POLICIES = sa.text("""
SELECT c.relname AS table_name, c.relrowsecurity AS rls, p.policyname, p.permissive, p.qual
FROM pg_class c
LEFT JOIN pg_policies p ON p.schemaname = 'public' AND p.tablename = c.relname AND p.cmd IN ('SELECT', 'ALL')
WHERE c.oid IN (to_regclass('public.api_models'), to_regclass('public.api_providers'), to_regclass('public.jobs'))
ORDER BY 1, 3
""")

# Every (modality, task) pair, one index probe per pair (a skip scan written as a recursive query) instead of a
# scan of the whole table: under the seed's policy a full scan calls has_role() once per row, this once per pair.
# The same pairs, in the same order, as DISTINCT_TASKS.
TASKS_SKIPPING = sa.text("""
WITH RECURSIVE pairs AS (
    (SELECT modality, task FROM api_models ORDER BY modality, task LIMIT 1)
    UNION ALL
    SELECT next.modality, next.task
    FROM pairs, LATERAL (
        SELECT m.modality, m.task FROM api_models m
        WHERE (m.modality, m.task) > (pairs.modality, pairs.task)
        ORDER BY m.modality, m.task LIMIT 1
    ) AS next
)
SELECT modality, task FROM pairs
""")

# The Overview's counts and the seed's rules that models break (RULE_BREAKS' columns), in one pass over
# api_models: each pass pays the table's per-row policy checks, so one instead of four.
OVERVIEW_FACTS = sa.text("""
SELECT
    count(*) FILTER (WHERE is_active) AS active_models,
    count(*) AS models,
    (SELECT count(*) FROM api_providers WHERE is_active) AS active_providers,
    (SELECT count(*) FROM api_providers) AS providers,
    count(*) FILTER (WHERE is_default AND is_active) AS defaults,
    count(*) FILTER (WHERE modality::text NOT IN ('text', 'image', 'video', 'audio')) AS rule_modality,
    count(*) FILTER (WHERE is_default AND (modality::text, task::text) IN (
        SELECT modality::text, task::text FROM api_models WHERE is_default GROUP BY 1, 2 HAVING count(*) > 1
    )) AS rule_defaults,
    count(*) FILTER (WHERE jsonb_typeof(input_defaults) <> 'object' OR jsonb_typeof(capabilities) <> 'object'
                     OR jsonb_typeof(pricing) <> 'object') AS rule_json,
    count(*) FILTER (WHERE btrim(model_key) = '' OR btrim(display_name) = '' OR btrim(task::text) = '') AS rule_blank
FROM api_models
""")

_FACTS = OVERVIEW_FACTS.columns(
    rule_modality=sa.BigInteger, rule_defaults=sa.BigInteger, rule_json=sa.BigInteger, rule_blank=sa.BigInteger
).subquery("facts")
# Models breaking each of the seed's rules that the database enforces only on an api_models the dashboard
# created (on a platform's own table they are reported, never imposed): OVERVIEW_FACTS' rule columns, so that
# each rule is written once (text comparisons there, for enum columns).
RULE_BREAKS = sa.select(
    _FACTS.c.rule_modality.label("modality"),
    _FACTS.c.rule_defaults.label("defaults"),
    _FACTS.c.rule_json.label("json"),
    _FACTS.c.rule_blank.label("blank"),
)

# Whether the database itself holds api_models to the seed's rules (RULE_BREAKS then counts nothing): the dashboard
# created both catalogue tables, and their checks and one-default index are there and valid. On a platform's own
# tables the Overview counts the rows that break them instead.
RULES_ENFORCED = sa.text("""
SELECT (SELECT count(*) FROM dashboard.created_objects
        WHERE object IN ('public.api_models', 'public.api_providers')) = 2
   AND (SELECT count(*) FROM pg_constraint
        WHERE conrelid = to_regclass('public.api_models') AND contype = 'c' AND convalidated
          AND conname IN ('api_models_modality_check', 'api_models_json_objects_check',
                          'api_models_text_not_blank_check')) = 3
   AND EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = to_regclass('public.api_models') AND i.indisunique AND i.indisvalid
                 AND c.relname = 'api_models_one_default_per_slot')
""")

PROVIDER_COUNTS = sa.text("""
SELECT count(*) FILTER (WHERE is_active) AS active_providers, count(*) AS providers FROM api_providers
""")

# The providers as the filters and the editor's select name them, without LIST's model counts (a read of every
# model, with its per-row policy checks): api_providers' few rows only, in LIST's order.
PROVIDER_CHOICES = sa.select(
    api_providers.c.id, api_providers.c.name, api_providers.c.display_name, api_providers.c.is_active
).order_by(sa.func.lower(api_providers.c.display_name), api_providers.c.name)

# The ids of the models the catalogue's writes after :since touched (a null id: any model may have changed), with
# the count up to which changes may be missing (migration 0021). Only admins see these tables: anyone else gets no
# row, and reads the catalogue whole.
CHANGED_SINCE = sa.text("""
SELECT f.write AS floor, f.epoch::text || '/' || d.oid::text AS epoch,
       ARRAY(SELECT DISTINCT c.model_id FROM dashboard.catalogue_changes c WHERE c.write > :since LIMIT :most) AS ids,
       (SELECT jsonb_agg(DISTINCT jsonb_build_array(c.modality, c.task)) FROM dashboard.catalogue_changes c
        WHERE c.write > :since AND c.model_id IS NOT NULL) AS slots
FROM dashboard.catalogue_changes_floor f, pg_database d WHERE d.datname = current_database()
""")

# The change log's epoch (migration 0021) and the database's oid, for admins: read before a whole read of the
# catalogue, so that the changes later read are known to be of the same database (a copy made from a template or a
# database dropped and made again under the same name has another oid).
CHANGES_EPOCH = sa.text("""
SELECT f.epoch::text || '/' || d.oid::text
FROM dashboard.catalogue_changes_floor f, pg_database d WHERE d.datname = current_database()
""")
