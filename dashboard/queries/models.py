"""The seed's common queries, with its literal values turned into bound parameters."""

import sqlalchemy as sa

ACTIVE_MODELS = sa.text("""
SELECT
    am.*,
    ap.name as provider_name,
    ap.display_name as provider_display_name
FROM api_models am
JOIN api_providers ap ON am.provider_id = ap.id
WHERE am.is_active = true AND ap.is_active = true
ORDER BY am.priority, am.display_name
""")

MODELS_FOR_TASK = sa.text("""
SELECT * FROM api_models
WHERE modality = :modality AND task = :task AND is_active = true
ORDER BY priority, display_name
""")

DEFAULT_MODELS = sa.text("""
SELECT
    am.*,
    ap.name as provider_name
FROM api_models am
JOIN api_providers ap ON am.provider_id = ap.id
WHERE am.is_default = true AND am.is_active = true
ORDER BY am.modality, am.task
""")

USAGE_STATS = sa.text("""
SELECT
    am.display_name,
    am.modality,
    am.task,
    ap.name as provider_name,
    COUNT(j.id) as total_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'completed') as completed_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'failed') as failed_jobs,
    AVG(j.quality_rating) as avg_quality_rating
FROM api_models am
JOIN api_providers ap ON am.provider_id = ap.id
LEFT JOIN jobs j ON am.id = j.api_model_id
WHERE am.is_active = true
GROUP BY am.id, am.display_name, am.modality, am.task, ap.name
ORDER BY total_jobs DESC
""")
USAGE_COLUMNS = [
    "display_name",
    "modality",
    "task",
    "provider_name",
    "total_jobs",
    "completed_jobs",
    "failed_jobs",
    "avg_quality_rating",
]

MODELS_BY_PROVIDER = sa.text("""
SELECT * FROM api_models
WHERE provider_id = :provider_id AND is_active = true
ORDER BY priority, display_name
""")

# The seed orders by priority then is_default; display_name and id only break the ties it leaves,
# so that a worker given the same catalogue always picks the same model.
ROUTING_SELECTION = sa.text("""
SELECT
    am.id,
    am.model_key,
    am.display_name,
    am.modality,
    am.task,
    am.input_defaults,
    am.capabilities,
    am.pricing,
    ap.name as provider_name,
    ap.base_url,
    ap.auth_scheme
FROM api_models am
JOIN api_providers ap ON am.provider_id = ap.id
WHERE am.is_active = true
AND ap.is_active = true
AND am.modality = :modality
AND am.task = :task
ORDER BY am.priority, am.is_default DESC, am.display_name, am.id
""")

IS_ADMIN = sa.text("select has_role(auth.uid(), 'admin'::app_role)")

UNSET_SLOT_DEFAULT = sa.text("""
UPDATE api_models SET is_default = false, updated_at = clock_timestamp()
WHERE modality = :modality AND task = :task AND is_default AND id <> :id
RETURNING id, display_name
""")

COUNT_JOBS_FOR_MODEL = sa.text("select count(*) from jobs where api_model_id = :id")

PROVIDER_STATE = sa.text("select display_name, is_active from api_providers where id = :id")
