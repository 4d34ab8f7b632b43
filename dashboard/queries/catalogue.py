"""Read-side SQL for the pages: slot summaries, overview counts, the data version."""

import sqlalchemy as sa

# One row per (modality, task) slot: its default and how many models could take its jobs.
SLOT_SUMMARY = sa.text("""
SELECT
    am.modality,
    am.task,
    count(*) AS models,
    count(*) FILTER (WHERE am.is_active) AS active_models,
    count(*) FILTER (WHERE am.is_active AND ap.is_active) AS candidates,
    (array_agg(am.id) FILTER (WHERE am.is_default))[1] AS default_id,
    (array_agg(am.display_name) FILTER (WHERE am.is_default))[1] AS default_name,
    coalesce(bool_or(am.is_default AND am.is_active), false) AS default_active,
    coalesce(bool_or(am.is_default AND ap.is_active), false) AS default_provider_active,
    -- What routing picks: the first model that can take jobs, in the seed's routing order (as
    -- queries/tables.ROUTING_ORDER; tests/integration/test_routing_preview.py checks the two agree).
    (array_agg(am.id ORDER BY am.priority, am.is_default DESC, am.display_name, am.id)
        FILTER (WHERE am.is_active AND ap.is_active))[1] AS picked_id,
    (array_agg(am.display_name ORDER BY am.priority, am.is_default DESC, am.display_name, am.id)
        FILTER (WHERE am.is_active AND ap.is_active))[1] AS picked_name
FROM api_models am
JOIN api_providers ap ON ap.id = am.provider_id
GROUP BY am.modality, am.task
ORDER BY am.modality, am.task
""")

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
