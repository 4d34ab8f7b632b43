"""The one lock order for every writer of the catalogue now lives with the default protocol it serves
(dashboard.services.default_slot); these names stay for the writers that import them from here."""

from dashboard.services.default_slot import lock_for_writing, lock_slots

__all__ = ["lock_for_writing", "lock_slots"]
