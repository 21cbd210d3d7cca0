"""The setup checklist: each step is missing on a bare draft and done once the organiser did what it asks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.code_admin import CodeBatch, generate_codes, revoke_codes, set_code_mode
from core.config import Settings
from core.db import read_only, unit_of_work
from core.demo import DEMO_SLUG, seed_demo
from core.errors import PermissionDenied
from core.event_admin import EventChanges, create_event_for, publish_event, update_event
from core.form_versions import save_form
from core.models import CodeMode, Event, RedemptionCode, UserRole, Vendor, utcnow
from core.setup_checklist import ChecklistStep, setup_checklist
from core.vendors import create_vendor, route_item
from tests.factories import BASIC_FORM, make_item, make_user

SMTP = Settings(smtp_host="smtp.example.org", mail_from="orders@example.org")
NO_SMTP = Settings()
KEY = b"k" * 32


@pytest.fixture
def draft(engine: Engine) -> tuple[Actor, int]:
    """A bare draft, as "Create event" leaves it, and its organiser."""
    with unit_of_work(engine) as session:
        olga = make_user(session, "olga")
        return olga, create_event_for(session, olga, slug="fair", title="Fair").id


def _steps(engine: Engine, actor: Actor, event_id: int, settings: Settings = SMTP) -> dict[str, ChecklistStep]:
    with read_only(engine) as session:
        return {step.key: step for step in setup_checklist(session, actor, event_id, settings)}


def test_a_bare_draft_misses_every_step_and_links_the_screen_that_fixes_it(engine: Engine,
                                                                         draft: tuple[Actor, int]) -> None:
    steps = _steps(engine, *draft, settings=NO_SMTP)
    assert list(steps) == ["details", "form", "items", "vendors", "mail", "retention", "published"]
    assert not any(step.done for step in steps.values() if step.key != "vendors")  # no items: nothing to route
    assert {key: step.fix_path for key, step in steps.items()} == {
        "details": "events", "form": "form-builder", "items": "items", "vendors": "vendors", "mail": "outbox",
        "retention": "events", "published": "events"}
    assert steps["details"].missing == "Add a description and when orders close."
    assert steps["mail"].missing.startswith("SMTP_HOST and MAIL_FROM are not set")


def test_details_and_retention_are_done_with_a_description_and_dates(engine: Engine,
                                                                    draft: tuple[Actor, int]) -> None:
    olga, event_id = draft
    with unit_of_work(engine) as session:
        update_event(session, olga, event_id, EventChanges(description="Hoodies!"))
    assert _steps(engine, olga, event_id)["details"].missing == "Add when orders close."
    with unit_of_work(engine) as session:
        update_event(session, olga, event_id, EventChanges(closes_at=utcnow() + timedelta(days=5)))
    steps = _steps(engine, olga, event_id)
    assert steps["details"].done and steps["retention"].done


def test_the_form_step_needs_a_saved_form_with_items_when_there_are_items(engine: Engine,
                                                                         draft: tuple[Actor, int]) -> None:
    olga, event_id = draft
    with unit_of_work(engine) as session:
        event = session.get_one(Event, event_id)
        make_item(session, event, "hoodie", dimensions=[])
        save_form(session, event, {"fields": [BASIC_FORM["fields"][0]]})
    steps = _steps(engine, olga, event_id)
    assert steps["items"].done
    assert "no \"Items to order\" field" in steps["form"].missing
    with unit_of_work(engine) as session:
        save_form(session, session.get_one(Event, event_id), BASIC_FORM)
    assert _steps(engine, olga, event_id)["form"].done


def test_the_vendor_step_needs_every_item_routed_to_a_vendor_with_an_address(engine: Engine,
                                                                            draft: tuple[Actor, int]) -> None:
    olga, event_id = draft
    with unit_of_work(engine) as session:
        event = session.get_one(Event, event_id)
        make_item(session, event, "hoodie", name="Hoodie", dimensions=[])
        make_item(session, event, "breakfast", name="Breakfast box", dimensions=[])
        printer = create_vendor(session, olga, name="Printer", emails=["print@example.org"], mode="per_order",
                                visible_fields=[])
        route_item(session, olga, event_id, "hoodie", printer.id)
    assert _steps(engine, olga, event_id)["vendors"].missing == "Not routed to a vendor: Breakfast box."
    with unit_of_work(engine) as session:
        route_item(session, olga, event_id, "breakfast", printer.id)
    assert _steps(engine, olga, event_id)["vendors"].done
    with unit_of_work(engine) as session:
        session.get_one(Vendor, printer.id).emails = []  # as a vendor of before addresses were required
    assert _steps(engine, olga, event_id)["vendors"].missing == "No email address for: Printer."


def test_the_mail_step_is_done_when_smtp_and_a_sender_are_configured(engine: Engine,
                                                                    draft: tuple[Actor, int]) -> None:
    assert _steps(engine, *draft, settings=SMTP)["mail"].done
    assert _steps(engine, *draft, settings=Settings(smtp_host="smtp.example.org"))["mail"].missing.startswith(
        "MAIL_FROM is not set")


def test_the_codes_step_appears_with_a_code_mode_and_needs_a_usable_code(engine: Engine,
                                                                        draft: tuple[Actor, int]) -> None:
    olga, event_id = draft
    assert "codes" not in _steps(engine, olga, event_id)
    with unit_of_work(engine) as session:
        set_code_mode(session, olga, event_id, CodeMode.FORM)
    assert _steps(engine, olga, event_id)["codes"].missing == "The event asks for codes, and none can be used yet."
    with unit_of_work(engine) as session:
        generate_codes(session, olga, event_id, CodeBatch(count=1), key=KEY)
    assert _steps(engine, olga, event_id)["codes"].done
    with unit_of_work(engine) as session:
        revoke_codes(session, olga, event_id, session.scalars(select(RedemptionCode.id)).all())
    assert not _steps(engine, olga, event_id)["codes"].done


def test_the_published_step_is_done_once_published(engine: Engine, draft: tuple[Actor, int]) -> None:
    olga, event_id = draft
    with unit_of_work(engine) as session:
        publish_event(session, olga, event_id)
    assert _steps(engine, olga, event_id)["published"].done


def test_only_organisers_of_the_event_see_its_checklist(engine: Engine, draft: tuple[Actor, int]) -> None:
    with unit_of_work(engine) as session:
        stranger = make_user(session, "mallory", role=UserRole.ORGANISER)
    with pytest.raises(PermissionDenied), read_only(engine) as session:
        setup_checklist(session, stranger, draft[1], SMTP)


def test_the_demo_event_closes_ends_and_so_deletes_its_personal_data_by_itself(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        seed_demo(session)
        demo = session.scalars(select(Event).where(Event.slug == DEMO_SLUG)).one()
        admin, demo_id = make_user(session, "ada", role=UserRole.ADMIN), demo.id
        assert utcnow() < demo.closes_at < demo.ends_at  # type: ignore[operator]
    steps = _steps(engine, admin, demo_id)
    assert steps["details"].done and steps["retention"].done and steps["published"].done
