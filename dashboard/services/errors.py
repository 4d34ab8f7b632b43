"""Named errors the service layer raises; pages and the CLI turn them into messages."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""


class NotAllowed(ServiceError):
    """The signed-in person may not do this (the database's row-level security refused it)."""


class ModelNotFound(ServiceError):
    """No model with that id is visible to the signed-in person."""


class ProviderNotFound(ServiceError):
    """No provider with that id or name."""


class EditConflict(ServiceError):
    """Someone else changed the model after it was read; nothing was written."""


class ConcurrentChange(ServiceError):
    """Another transaction changed the same records at the same moment (a deadlock or serialization failure
    the database resolved by failing this one); nothing was written, and trying again will do."""


class ModelInUse(ServiceError):
    """The model cannot be deleted because jobs reference it."""

    def __init__(self, job_count: int):
        self.job_count = job_count
        super().__init__(f"{job_count:,} job(s) reference this model, so it cannot be deleted; deactivate it instead")


class InvalidModel(ServiceError):
    """One or more fields are invalid; problems maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems.items()))


class InvalidRange(ServiceError, ValueError):
    """A date range the usage counts cannot answer exactly (not whole hours, or backwards)."""


class ImportRefused(ServiceError):
    """The file as a whole cannot be read (format, size, encoding, columns); nothing was looked at."""


class NothingToRestore(ServiceError):
    """The entry has no version to go back to, or the model is already like that."""


class InvalidUser(ServiceError):
    """The email, password or role given for a new account is not acceptable, or it cannot be written here."""
