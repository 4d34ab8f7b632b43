"""The service layer: business rules of the catalogue, each call run as a person under RLS."""

from dashboard.services.errors import (
    ConcurrentChange,
    EditConflict,
    InvalidModel,
    ModelInUse,
    ModelNotFound,
    NotAllowed,
    ProviderNotFound,
    ServiceError,
)
from dashboard.services.models import ModelService

__all__ = [
    "ConcurrentChange",
    "EditConflict",
    "InvalidModel",
    "ModelInUse",
    "ModelNotFound",
    "ModelService",
    "NotAllowed",
    "ProviderNotFound",
    "ServiceError",
]
