"""Read-side SQL for the pages: slot summaries, overview counts, the data version."""

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
_facts = (
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
    .subquery()
)
SLOT_FACTS = (
    sa.select(_facts)
    .where(sa.or_(_facts.c.is_default, _facts.c.name_rank <= 2))
    .order_by(_facts.c.modality, _facts.c.task, _facts.c.name_rank)
)

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

# Models breaking each of the seed's rules that the database enforces only on an api_models the dashboard
# created (on a platform's own table they are reported, never imposed). Text comparisons, for enum columns.
CATALOGUE_EXISTS = sa.text("SELECT to_regclass('public.api_models') IS NOT NULL")

RULE_BREAKS = sa.text("""
SELECT
    count(*) FILTER (WHERE modality::text NOT IN ('text', 'image', 'video', 'audio')) AS modality,
    count(*) FILTER (WHERE is_default AND (modality::text, task::text) IN (
        SELECT modality::text, task::text FROM api_models WHERE is_default GROUP BY 1, 2 HAVING count(*) > 1
    )) AS defaults,
    count(*) FILTER (WHERE jsonb_typeof(input_defaults) <> 'object' OR jsonb_typeof(capabilities) <> 'object'
                     OR jsonb_typeof(pricing) <> 'object') AS json,
    count(*) FILTER (WHERE btrim(model_key) = '' OR btrim(display_name) = '' OR btrim(task::text) = '') AS blank
FROM api_models
""")

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
DATA_VERSION = sa.text("SELECT last_value FROM dashboard.catalogue_writes")

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

# Every visible model's id and name, with its provider's to tell namesakes apart, by name.
MODEL_CHOICES = (
    sa.select(api_models.c.id, api_models.c.display_name, api_providers.c.display_name.label("provider_name"))
    .select_from(models_with_providers)
    .order_by(sa.func.lower(api_models.c.display_name), api_providers.c.display_name, api_models.c.id)
)
