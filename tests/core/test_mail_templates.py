"""Mail templates: what a template may say, how values are filled in and escaped, storing and previewing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import PermissionDenied, SchemaError, TemplateValidationError
from core.mail_templates import (
    DEFAULT_TEMPLATES,
    PLACEHOLDERS,
    RENDERED_SUBJECT_MAX_LENGTH,
    SAMPLE_NAME,
    check_template,
    delete_after,
    load_template,
    lookup_link,
    placeholders_for,
    preview_template,
    render_mail,
    reset_template,
    save_template,
    template_for,
)
from core.models import AuditEntry, Event, MailTemplate, MessageKind
from tests.factories import make_shop, make_user
from tests.factories.orders import place

CONFIRMATION, VENDOR = MessageKind.CONFIRMATION, MessageKind.VENDOR_ORDER


def _values(**overrides: str) -> dict[str, str]:
    values = {"name": "Ada Lovelace", "order_ref": "K7M2QX9P", "items": "2 × T-shirt (Fitted, M)\n1 × Hoodie (L)",
              "lookup_link": "https://orders.example/?event=summer", "delete_after": "30 September 2027",
              "event_title": "Summer Meetup", "vendor_name": "Printer", "fields": "Name: Ada Lovelace"}
    values.update(overrides)
    return values


def _refused(kind: MessageKind, subject: str, body: str) -> dict[str, str]:
    with pytest.raises(TemplateValidationError) as caught:
        check_template(kind, subject, body)
    return caught.value.errors


# --- What a template may say -------------------------------------------------------------------------------------


def test_unknown_placeholders_are_refused_by_name() -> None:
    errors = _refused(CONFIRMATION, "Order {order_id}", "Dear {first_name} {name}, {first_name} {address}")
    assert errors["subject"].startswith("Unknown placeholder {order_id}.")
    assert errors["body"].startswith("Unknown placeholders {first_name}, {address}.")
    assert "{order_ref}" in errors["body"]  # the message lists what may be used


def test_vendor_placeholders_belong_to_vendor_mails_only() -> None:
    errors = _refused(CONFIRMATION, "Hi", "{fields} for {vendor_name}")
    assert list(errors) == ["body"] and errors["body"].startswith("Unknown placeholders {fields}, {vendor_name}.")
    assert check_template(VENDOR, "Order {order_ref}", "{fields} for {vendor_name}")
    assert set(placeholders_for(VENDOR)) == set(PLACEHOLDERS) | {"fields", "vendor_name"}


@pytest.mark.parametrize("sneaky", ["{name.__class__}", "{items[0]}", "{}", "{0}", "{name!r}", "{name:>40}",
                                    "{name:{order_ref}}", "{ name }"])
def test_placeholders_reach_nothing_but_their_values(sneaky: str) -> None:
    assert "Unknown placeholder" in _refused(CONFIRMATION, "Hi", f"Hello {sneaky}")["body"]


@pytest.mark.parametrize("unpaired", ["Hello {name", "Hello name}", "{{name}", "{"])
def test_an_unpaired_brace_is_refused(unpaired: str) -> None:
    assert "A brace is not closed" in _refused(CONFIRMATION, "Hi", unpaired)["body"]


def test_doubled_braces_are_literal_braces() -> None:
    subject, body = check_template(CONFIRMATION, "{{Summer}} {order_ref}", "Use {{name}} literally, {name}.")
    mail = render_mail(CONFIRMATION, subject, body, _values())
    assert mail.subject == "{Summer} K7M2QX9P"
    assert mail.text == "Use {name} literally, Ada Lovelace.\n"


def test_a_subject_is_one_line_and_neither_part_may_be_empty() -> None:
    assert "one line" in _refused(CONFIRMATION, "Your order\n{order_ref}", "x")["subject"]
    assert set(_refused(CONFIRMATION, "  ", "\n\n")) == {"subject", "body"}
    assert "control characters" in _refused(CONFIRMATION, "Hi", "Bell\x07")["body"]


def test_only_confirmation_and_vendor_order_mails_have_templates() -> None:
    with pytest.raises(SchemaError):
        check_template(MessageKind.ALARM, "Hi", "There")


def test_the_default_templates_pass_their_own_checks() -> None:
    for kind, (subject, body) in DEFAULT_TEMPLATES.items():
        assert check_template(kind, subject, body) == (subject, body)


# --- Filling in values -------------------------------------------------------------------------------------------


def test_html_in_a_value_is_escaped_in_the_html_part_and_kept_in_the_text_part() -> None:
    name = '<script>alert("x")</script><b>Ada</b> & co'
    mail = render_mail(CONFIRMATION, "Hi {name}", "Hello {name},\n{items}", _values(name=name))
    assert mail.text == f"Hello {name},\n2 × T-shirt (Fitted, M)\n1 × Hoodie (L)"
    assert "<script>" not in mail.html and "<b>" not in mail.html
    assert mail.html == ("Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;Ada&lt;/b&gt; &amp; co,<br>\n"
                         "2 × T-shirt (Fitted, M)<br>\n1 × Hoodie (L)")
    assert mail.subject == f"Hi {name}"  # a subject is plain text; the mail library encodes it


def test_html_written_in_the_template_is_escaped_too() -> None:
    subject, body = check_template(CONFIRMATION, "Hi", '<a href="https://evil.example">Click</a> {name}')
    mail = render_mail(CONFIRMATION, subject, body, _values())
    assert mail.html == "&lt;a href=&quot;https://evil.example&quot;&gt;Click&lt;/a&gt; Ada Lovelace<br>\n"


def test_braces_in_a_value_are_just_text() -> None:
    tricky = "{order_ref} {0} {name.__class__} { }}"
    mail = render_mail(CONFIRMATION, "{name}", "Hello {name}, {order_ref}", _values(name=tricky))
    assert mail.subject == tricky
    assert mail.text == f"Hello {tricky}, K7M2QX9P"


def test_a_name_that_is_a_file_path_is_just_text() -> None:
    subject, body = DEFAULT_TEMPLATES[CONFIRMATION]
    mail = render_mail(CONFIRMATION, subject, body, _values(name="/etc/passwd"))
    assert mail.text.startswith("Hello /etc/passwd,\n")
    assert "root:" not in mail.text + mail.html


def test_line_breaks_from_values_never_reach_the_subject() -> None:
    mail = render_mail(CONFIRMATION, "{items} {name}", "x", _values(name="Ada\r\nBcc: everyone@example.com"))
    assert mail.subject == "2 × T-shirt (Fitted, M) 1 × Hoodie (L) Ada Bcc: everyone@example.com"
    assert "\n" not in mail.subject and "\r" not in mail.subject


def test_a_very_long_subject_is_shortened_to_fit_the_outbox() -> None:
    mail = render_mail(CONFIRMATION, "Hello {name}", "x", _values(name="A" * 500))
    assert len(mail.subject) == RENDERED_SUBJECT_MAX_LENGTH and mail.subject.endswith("…")


def test_every_placeholder_needs_a_value() -> None:
    values = _values()
    del values["delete_after"]
    with pytest.raises(ValueError, match="delete_after"):
        render_mail(CONFIRMATION, "Hi", "x", values)


def test_delete_after_is_the_end_plus_retention_in_the_events_time_zone(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone="Pacific/Auckland", retention_days=30,
                          ends_at=datetime(2027, 9, 1, 20, 0, tzinfo=UTC))  # 2 September in Auckland
        assert delete_after(event) == "2 October 2027"
        event.ends_at = None
        assert delete_after(event) == "after the event"


def test_the_lookup_link_carries_the_orders_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lookup_link("s3cr-t_x", "https://orders.example/") == "https://orders.example/lookup?t=s3cr-t_x"
    assert lookup_link(None, "https://orders.example") == "https://orders.example/lookup"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://configured.example")
    assert lookup_link("abc") == "https://configured.example/lookup?t=abc"


def test_vendor_templates_cannot_carry_the_attendees_lookup_link() -> None:
    assert "lookup_link" in placeholders_for(CONFIRMATION)
    assert "lookup_link" not in placeholders_for(VENDOR)
    errors = _refused(VENDOR, "Order {order_ref}", "{items}\n{lookup_link}")
    assert errors["body"].startswith("Unknown placeholder {lookup_link}.")


# --- Stored templates --------------------------------------------------------------------------------------------


@pytest.fixture
def shop(engine: Engine) -> tuple[Engine, int, Actor, Actor]:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        olivia = make_user(session, "olivia", member_of=[event])
        oscar = make_user(session, "oscar")
    return engine, event.id, olivia, oscar


def test_an_event_uses_the_default_until_it_saves_its_own(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with unit_of_work(engine) as session:
        before = load_template(session, olivia, event_id, CONFIRMATION)
        saved = save_template(session, olivia, event_id, CONFIRMATION, "  Thanks {name} ", "Ref {order_ref}\r\n")
    with read_only(engine) as session:
        after = load_template(session, olivia, event_id, CONFIRMATION)
        vendor = load_template(session, olivia, event_id, VENDOR)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "template.saved")).one()
    assert before.is_default and (before.subject, before.body) == DEFAULT_TEMPLATES[CONFIRMATION]
    assert saved == after
    assert (after.subject, after.body, after.is_default) == ("Thanks {name}", "Ref {order_ref}\n", False)
    assert vendor.is_default
    assert (entry.actor, entry.event_id, entry.details) == ("olivia", event_id, {"kind": "confirmation"})


def test_saving_again_replaces_the_template(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with unit_of_work(engine) as session:
        save_template(session, olivia, event_id, VENDOR, "One", "one")
    with unit_of_work(engine) as session:
        save_template(session, olivia, event_id, VENDOR, "Two", "two")
    with read_only(engine) as session:
        assert [(t.subject, t.body) for t in session.scalars(select(MailTemplate))] == [("Two", "two\n")]


def test_a_refused_template_is_not_stored(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with pytest.raises(TemplateValidationError) as caught, unit_of_work(engine) as session:
        save_template(session, olivia, event_id, CONFIRMATION, "Hi {nmae}", "Fine")
    assert list(caught.value.errors) == ["subject"] and "{nmae}" in str(caught.value)
    with read_only(engine) as session:
        assert session.scalars(select(MailTemplate)).all() == []


def test_resetting_brings_the_default_back(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with unit_of_work(engine) as session:
        save_template(session, olivia, event_id, CONFIRMATION, "Mine", "mine")
    with unit_of_work(engine) as session:
        assert reset_template(session, olivia, event_id, CONFIRMATION).is_default
    with read_only(engine) as session:
        assert load_template(session, olivia, event_id, CONFIRMATION).is_default
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "template.reset")).one()


def test_an_organiser_of_another_event_can_neither_read_nor_save_its_templates(
    shop: tuple[Engine, int, Actor, Actor],
) -> None:
    engine, event_id, _, oscar = shop
    with unit_of_work(engine) as session:
        for attempt in (lambda: load_template(session, oscar, event_id, CONFIRMATION),
                        lambda: save_template(session, oscar, event_id, CONFIRMATION, "Hi", "x"),
                        lambda: reset_template(session, oscar, event_id, CONFIRMATION),
                        lambda: preview_template(session, oscar, event_id, CONFIRMATION, "Hi", "x")):
            with pytest.raises(PermissionDenied):
                attempt()


def test_a_stored_template_that_no_longer_passes_falls_back_to_the_default(
    shop: tuple[Engine, int, Actor, Actor],
) -> None:
    engine, event_id, _, _ = shop
    with unit_of_work(engine) as session:
        session.add(MailTemplate(event_id=event_id, kind=CONFIRMATION, subject="Hi {gone}", body="x"))
    with read_only(engine) as session:
        used = template_for(session, event_id, CONFIRMATION)
    assert used.is_default and used.subject == DEFAULT_TEMPLATES[CONFIRMATION][0]


def test_the_preview_uses_a_made_up_order_never_a_real_attendee(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with unit_of_work(engine) as session:
        place(session, session.get_one(Event, event_id), "real", name="Grace Hopper", email="grace@example.com")
    with read_only(engine) as session:
        preview = preview_template(session, olivia, event_id, VENDOR, "For {vendor_name}: {order_ref}",
                                   "{name}\n{items}\n{fields}", public_base_url="https://o.example")
    assert preview.subject == "For Sample vendor: SAMPLE23"
    assert preview.text == (f"{SAMPLE_NAME}\n1 × T-shirt (Fitted, S)\n1 × Hoodie (S)\n"
                            f"Name: {SAMPLE_NAME}\nEmail: alex@example.com\nPhone: +447700900123\n"
                            "Delivery address: 1 Sample Street, Exampleton, EX1 2MP, United Kingdom\n"
                            "Anything about sizes?: Sample answer\n")
    assert "Grace" not in preview.text + preview.html
    with read_only(engine) as session:
        confirmation = preview_template(session, olivia, event_id, CONFIRMATION, "Hi", "{lookup_link}",
                                        public_base_url="https://o.example")
    assert confirmation.text == "https://o.example/lookup?t=sample-secret\n"


def test_the_preview_refuses_what_saving_would_refuse(shop: tuple[Engine, int, Actor, Actor]) -> None:
    engine, event_id, olivia, _ = shop
    with read_only(engine) as session, pytest.raises(TemplateValidationError) as caught:
        preview_template(session, olivia, event_id, CONFIRMATION, "Hi", "{fields}")
    assert list(caught.value.errors) == ["body"]
