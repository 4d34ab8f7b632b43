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
    coalesce(bool_or(am.is_default AND ap.is_active), false) AS default_provider_active
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

DATA_VERSION = sa.text("SELECT coalesce(sum(version), 0) FROM dashboard.data_version")

DISTINCT_TASKS = sa.text("SELECT DISTINCT modality, task FROM api_models ORDER BY modality, task")
