"""Provider statements."""

import sqlalchemy as sa

LIST = sa.text("""
SELECT ap.*, ap.xmin::text AS row_version,
       count(am.id) AS models,
       count(am.id) FILTER (WHERE am.is_active) AS active_models
FROM api_providers ap LEFT JOIN api_models am ON am.provider_id = ap.id
GROUP BY ap.id ORDER BY lower(ap.display_name), ap.name
""")
