"""The DomainError tree: every error a user may see, with a message that is safe to show them."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """An expected failure caused by input or state; its message is safe to show to the person acting."""


class NotFound(DomainError):
    """The thing asked for does not exist (or the asker may not know that it does)."""


class SchemaError(DomainError):
    """A form schema or catalogue definition is malformed; the message names the bad field."""


class EventNotOpen(DomainError):
    """The event does not take orders at this moment."""


class FormValidationError(DomainError):
    """Answers that break the form's rules; `errors` maps a field key (or `key.part`) to its message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("Please correct the highlighted fields: " + ", ".join(sorted(self.errors)))


class PermissionDenied(DomainError):
    """The acting user may not do this (or is not logged in)."""


class LoginThrottled(DomainError):
    """Too many failed logins lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many failed attempts. Please wait {retry_after} seconds and try again.")


class NewerFormSaved(DomainError):
    """Someone saved a newer form version since this draft started; saving it would replace theirs."""
