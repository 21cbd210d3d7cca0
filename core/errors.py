"""The DomainError tree: every error a user may see, with a message that is safe to show them.

Every DomainError of core/ is defined here, and nowhere else (tests/test_architecture.py checks this tree against
the classes below). Indented under its base; "also" names a second base.

    DomainError
        NotFound
        SchemaError
        EventNotOpen
        FormValidationError
            EventValidationError (also SchemaError)        event settings, beside their inputs
            TemplateValidationError (also SchemaError)     a mail template's subject or body
            VendorValidationError (also SchemaError)       vendor settings
        PermissionDenied
            PasswordChangeRequired                         still the password printed or set by someone else
        LoginThrottled
        CodeRefused                                        a redemption code that cannot be used
        CodeThrottled                                      too many wrong codes from one client
        SubmitThrottled                                    too many orders from one client
        CodeImportError                                    a CSV of codes, with every bad row
        LookupThrottled                                    too many failed order lookups
        PortalThrottled                                    too many wrong vendor links from one client
        ChangeRefused                                      an attendee's change after the deadline
        StatusChangeRefused                                a move against the fulfilment steps
        StatusImportStale                                  a status upload previewed before orders moved
        OrderNotForgettable                                an attendee's data that cannot be deleted yet
        MessageNotRetryable                                a mail that did not fail permanently
        SoldOut                                            not enough stock left for an order line
        BackupError                                        a backup or restore that could not be done
        NewerFormSaved                                     a form saved by someone else since a draft began
        OrderNotSaved                                      an order whose transaction did not commit
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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


# How the event settings are called on their page, for error messages that do not name a field beside its input.
FIELD_LABELS = {
    "slug": "Address name", "title": "Title", "description": "Description", "accent_colour": "Accent colour",
    "timezone": "Time zone", "phone_region": "Phone region", "opens_at": "Orders open", "closes_at": "Orders close",
    "closed_message": "Closed message", "ends_at": "Event ends", "retention_days": "Retention days",
    "change_deadline": "Change deadline", "vendor_cutoff_at": "Vendor lists sent", "username": "Username",
    "close_when_sold_out": "Close when sold out", "one_order_per_email": "One order per email address",
}


class EventValidationError(FormValidationError, SchemaError):
    """Event settings that break a rule; `errors` maps a setting ("slug", "closes_at") to its message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(errors)
        self.args = ("; ".join(f"{FIELD_LABELS.get(name, name)}: {message}" for name, message in self.errors.items()),)


class TemplateValidationError(FormValidationError, SchemaError):
    """A template that breaks a rule; `errors` maps "subject" and/or "body" to its message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(errors)
        self.args = ("; ".join(f"{name.title()}: {message}" for name, message in self.errors.items()),)


class VendorValidationError(FormValidationError, SchemaError):
    """Vendor settings that break a rule; `errors` maps "name", "emails", "mode" or "visible_fields" to a message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(errors)
        labels = {"name": "Name", "emails": "Emails", "mode": "Mode", "visible_fields": "Visible fields"}
        self.args = ("; ".join(f"{labels.get(key, key)}: {message}" for key, message in self.errors.items()),)


class PermissionDenied(DomainError):
    """The acting user may not do this (or is not logged in)."""


class PasswordChangeRequired(PermissionDenied):
    """The user logged in with a password printed on a console or chosen by someone else and must set their own."""


class LoginThrottled(DomainError):
    """Too many failed logins lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many failed attempts. Please wait {retry_after} seconds and try again.")


class CodeRefused(DomainError):
    """A code that is unknown, used up, expired, revoked or not valid for an item; the message says which."""


class CodeThrottled(DomainError):
    """Too many wrong codes from this client lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many wrong codes. Please wait {retry_after} seconds and try again.")


class SubmitThrottled(DomainError):
    """Too many orders submitted from this client lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many orders were sent from your connection in a short time. Please wait "
                         f"{retry_after} seconds and try again.")


class CodeImportError(DomainError):
    """A CSV of codes that was not imported; `problems` lists each bad row ("Row 3: ...")."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        shown = "; ".join(self.problems[:10]) + ("; …" if len(self.problems) > 10 else "")
        super().__init__(f"Nothing was imported ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}): {shown}")

    @property
    def summary(self) -> str:
        """One line above the list of problems: "Nothing was imported: 2 problems."."""
        return f"Nothing was imported: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}."


class LookupThrottled(DomainError):
    """Too many failed lookups lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many attempts. Please wait {retry_after} seconds and try again.")


class PortalThrottled(DomainError):
    """Too many wrong vendor links from this client lately; `retry_after` says how many seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many attempts. Please wait {retry_after} seconds and try again.")


class ChangeRefused(DomainError):
    """The order can no longer be changed or cancelled (deadline passed, already in production, ...)."""


class StatusChangeRefused(DomainError):
    """A status change that makes no sense for an order (e.g. a cancelled order cannot come back)."""


class StatusImportStale(DomainError):
    """Orders of the preview changed since it was made; the organiser should look at a new preview."""


class OrderNotForgettable(DomainError):
    """An attendee can delete their data at once only after delivery or cancellation."""


class MessageNotRetryable(DomainError):
    """Only a message that failed permanently can be retried by hand."""


class SoldOut(DomainError):
    """Not enough stock left for an order line; `item_key` names the item, so a form can show it beside it."""

    def __init__(self, message: str, item_key: str):
        self.item_key = item_key
        super().__init__(message)


class BackupError(DomainError):
    """A backup or restore that could not be done; the message says why, without secrets."""


class NewerFormSaved(DomainError):
    """Someone saved a newer form version since this draft started; saving it would replace theirs."""


class OrderNotSaved(DomainError):
    """The order's transaction failed to commit (disk full, I/O error, lost connection): nothing was ordered."""

    def __init__(self) -> None:
        super().__init__("Your order was not saved. Please try again.")
