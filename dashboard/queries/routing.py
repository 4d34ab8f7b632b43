"""The Routing preview's reads (the ranking itself is the seed's routing query, queries.models.ROUTING_SELECTION,
for one slot; for every slot at once it is routing_rules over SLOT_MODELS, which a test checks against it)."""

import sqlalchemy as sa

from dashboard.queries.tables import RULE_COLUMNS, api_models, api_providers, models_with_providers

# Models with the rule columns, in the database's order of (display_name, id) (see routing_rules.with_name_ranks);
# provider_key is the provider's name, the identifier the CLI shows.
SLOT_MODELS = (
    sa.select(*RULE_COLUMNS, api_models.c.model_key, api_providers.c.name.label("provider_key"))
    .select_from(models_with_providers)
    .order_by(api_models.c.display_name, api_models.c.id)
)

SLOT = (api_models.c.modality, api_models.c.task)  # a slot, as SLOT_MODELS may be narrowed to some: tuple_(*SLOT)

ALL_SLOTS = (
    sa.select(api_models.c.modality, api_models.c.task).distinct().order_by(api_models.c.modality, api_models.c.task)
)

# The routing query's row for each picked model (what ROUTING_SELECTION returns for the first of a slot).
PICKED_ROWS = (
    sa.select(
        api_models.c.id,
        api_models.c.model_key,
        api_models.c.display_name,
        api_models.c.modality,
        api_models.c.task,
        api_models.c.input_defaults,
        api_models.c.capabilities,
        api_models.c.pricing,
        api_providers.c.name.label("provider_name"),
        api_providers.c.base_url,
        api_providers.c.auth_scheme,
    )
    .select_from(models_with_providers)
    .where(api_models.c.id.in_(sa.bindparam("ids", expanding=True)))
)
