"""The Mail templates page through AppTest: the wording per kind of mail, the preview, saving and who may see it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.mail_templates import DEFAULT_TEMPLATES, SAMPLE_NAME
from core.models import MailTemplate, MessageKind
from tests.factories import make_shop, make_user
from tests.pages.conftest import click, render_page


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    olivia: Actor
    oscar: Actor


@pytest.fixture
def shop(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://orders.example")
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        olivia = make_user(session, "olivia", member_of=[event])
        oscar = make_user(session, "oscar")
    return Shop(engine, event.id, olivia, oscar)


_page = partial(render_page, "mail_templates_page")


def _prefix(shop: Shop, kind: MessageKind = MessageKind.CONFIRMATION, generation: int = 0) -> str:
    return f"templates.{shop.event_id}.{kind.value}.{generation}"


def _stored(engine: Engine) -> list[tuple[MessageKind, str, str]]:
    with read_only(engine) as session:
        return [(t.kind, t.subject, t.body) for t in session.scalars(select(MailTemplate))]


def test_anonymous_session_sees_the_login_warning_and_no_templates(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.text_input and not at.text_area and not at.code


def test_an_organiser_without_events_sees_no_templates(shop: Shop) -> None:
    at = _page(shop.oscar)
    assert not at.exception
    assert not at.text_input and not at.code


def test_the_default_wording_the_placeholders_and_a_sample_preview(shop: Shop) -> None:
    at = _page(shop.olivia)
    assert not at.exception
    subject, body = DEFAULT_TEMPLATES[MessageKind.CONFIRMATION]
    assert at.text_input(key=f"{_prefix(shop)}.subject").value == subject
    assert at.text_area(key=f"{_prefix(shop)}.body").value == body
    assert "The default wording" in at.caption[1].value
    placeholders = at.expander[0].markdown[0].value
    assert "`{lookup_link}`" in placeholders and "`{fields}`" not in placeholders
    preview = at.code[0].value
    assert preview.startswith("Subject: Your order SAMPLE23 for Summer Meetup\n\n")
    assert f"Hello {SAMPLE_NAME}," in preview and "https://orders.example/lookup?t=" in preview
    assert f"Hello {SAMPLE_NAME},<br>" in at.html[0].proto.body


def test_the_vendor_mail_has_its_own_wording_and_placeholders(shop: Shop) -> None:
    at = _page(shop.olivia)
    at = at.radio(key="templates.kind").set_value(MessageKind.VENDOR_ORDER).run()
    assert not at.exception
    prefix = _prefix(shop, MessageKind.VENDOR_ORDER)
    assert at.text_input(key=f"{prefix}.subject").value == DEFAULT_TEMPLATES[MessageKind.VENDOR_ORDER][0]
    assert "`{fields}`" in at.expander[0].markdown[0].value
    assert "Hello Sample vendor," in at.code[0].value


def test_the_preview_follows_the_inputs_and_escapes_html(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.text_area(key=f"{_prefix(shop)}.body").input("<b>Hi</b> {name} {{braces}}").run()
    assert not at.exception
    assert at.code[0].value.endswith(f"<b>Hi</b> {SAMPLE_NAME} {{braces}}")
    assert at.html[0].proto.body == f"&lt;b&gt;Hi&lt;/b&gt; {SAMPLE_NAME} {{braces}}<br>"
    assert _stored(shop.engine) == []  # previewing saves nothing


def test_an_unknown_placeholder_is_shown_beside_the_body_and_not_saved(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.text_area(key=f"{_prefix(shop)}.body").input("Hello {first_name}")
    at = click(at, "Save")
    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith("Unknown placeholder {first_name}.")
    assert not at.code  # no preview of a template that cannot be used
    assert _stored(shop.engine) == []


def test_saving_stores_the_events_own_wording(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.text_input(key=f"{_prefix(shop)}.subject").input("Thanks, {name}!")
    at.text_area(key=f"{_prefix(shop)}.body").input("See you at {event_title}.")
    at = click(at, "Save")
    assert not at.exception
    assert at.success[0].value == "Saved the confirmation to the attendee."
    assert _stored(shop.engine) == [(MessageKind.CONFIRMATION, "Thanks, {name}!", "See you at {event_title}.\n")]
    assert at.text_input(key=f"{_prefix(shop, generation=1)}.subject").value == "Thanks, {name}!"
    assert "This event's own wording." in [c.value for c in at.caption]
    at = click(at, "Use the default wording")
    assert not at.exception
    assert _stored(shop.engine) == []
    assert at.text_input(key=f"{_prefix(shop, generation=2)}.subject").value == \
        DEFAULT_TEMPLATES[MessageKind.CONFIRMATION][0]
