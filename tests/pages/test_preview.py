"""Previewing a draft's public page: its organisers see the form as attendees will, and no order is taken;
everyone else gets what an unknown address gets."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import EventNotOpen
from core.models import CodeMode, Event, Order
from core.orders import place_order
from core.users import log_out_everywhere
from tests.factories import answers, make_shop, make_user
from tests.pages.conftest import render_page

PREVIEW = {"event": "draft", "preview": "1"}


@pytest.fixture
def olga(engine: Engine) -> Actor:
    """The organiser of an unpublished event `draft` that asks for a code to open its form."""
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="draft", title="Winter Fair", published=False, code_mode=CodeMode.FORM)
        return make_user(session, "olga", member_of=[event])


def test_an_organiser_previews_the_draft_with_a_banner_and_no_way_to_order(engine: Engine, olga: Actor) -> None:
    at = render_page("order_page", olga, query=PREVIEW)
    assert not at.exception
    assert at.title[0].value == "Winter Fair"
    assert at.warning[0].value.startswith("Preview: orders are not taken.")
    assert [w.label for w in at.text_input][:2] == ["Name *", "Email *"]  # the form itself, past the code gate
    place = next(b for b in at.button if b.label == "Place order")
    assert place.disabled
    with pytest.raises(EventNotOpen), unit_of_work(engine) as session:  # core refuses whatever a page shows
        place_order(session, session.scalars(select(Event)).one(), answers(), idempotency_key="preview")
    with read_only(engine) as session:
        assert session.scalars(select(Order)).all() == []


@pytest.mark.parametrize("who", ["anonymous", "stranger"])
def test_anyone_else_gets_the_page_of_an_unknown_event(engine: Engine, olga: Actor, who: str) -> None:
    actor = None
    if who == "stranger":
        with unit_of_work(engine) as session:
            actor = make_user(session, "mallory")
    at = render_page("order_page", actor, query=PREVIEW)
    assert not at.exception
    assert [t.value for t in at.title] == ["Event not found"]
    assert not at.warning and not at.button


def test_a_preview_whose_login_ended_meanwhile_is_gone_even_when_only_the_form_reruns(
        engine: Engine, olga: Actor) -> None:
    """The form reruns alone (a fragment), past app.py's check of the login: loading the preview checks it itself.
    render_page runs the screen without app.py, as such a rerun does."""
    at = render_page("order_page", olga, query=PREVIEW)
    assert at.warning[0].value.startswith("Preview:")
    with unit_of_work(engine) as session:
        log_out_everywhere(session, olga)
    at = at.run()
    assert [t.value for t in at.title] == ["Event not found"]
    assert not at.warning and "auth.actor" not in at.session_state


def test_without_preview_the_draft_stays_unknown_even_to_its_organiser(engine: Engine, olga: Actor) -> None:
    at = render_page("order_page", olga, query={"event": "draft"})
    assert [t.value for t in at.title] == ["Event not found"]
