"""A vendor's portal link in its mails (`in_mails`): chosen when the link is made, put in by the outbox as it
sends (batch lists and per-order mails, through the local SMTP server), and stored nowhere: not in the outbox, not
in the link's row. A link revoked, replaced by one not in mails, or made under another key reaches no mail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from core.config import Settings
from core.db import read_only, unit_of_work
from core.errors import DomainError
from core.models import OutboxMessage, Vendor, VendorLink, VendorMode
from core.outbox import drain_outbox
from core.portal_links import NO_PORTAL_LINK, PORTAL_LINK_PLACEHOLDER
from core.vendor_portal import create_vendor_link, open_portal, rotate_vendor_link
from tests.factories.exports import BASE, BREAKFAST, World, make_world, place_at, send_list
from tests.factories.orders import tshirts
from tests.mail_server import MailServer, ReceivedMail, mail_server, wait_for

__all__ = ["mail_server"]  # the fixture, imported for pytest

PUBLIC = "https://orders.example"
KEY = "a-code-key-of-forty-random-characters-xyz"


def _settings(server: MailServer, key: str = KEY) -> Settings:
    return Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none", code_key=key,
                    mail_from="Event Orders <ops@example.org>", public_base_url=PUBLIC)


@pytest.fixture
def world(engine: Engine) -> World:
    """The exports world, its caterer a per-order vendor (a mail per order), the printer a batch vendor."""
    world = make_world(engine)
    with unit_of_work(engine) as session:
        session.execute(update(Vendor).where(Vendor.id == world.caterer_id).values(mode=VendorMode.PER_ORDER))
    return world


def _link(world: World, vendor_id: int, settings: Settings, *, in_mails: bool = True) -> str:
    with unit_of_work(world.engine) as session:
        made = create_vendor_link(session, world.alice, world.event_id, vendor_id, in_mails=in_mails,
                                  settings=settings)
    return made.path.removeprefix("/vendor?t=")


def _send(world: World, server: MailServer, settings: Settings, count: int) -> list[ReceivedMail]:
    report = drain_outbox(world.engine, settings, now=BASE + timedelta(days=1))
    assert report.sent == count, report
    return wait_for(server, count)


def _text(mail: ReceivedMail) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _to(mails: list[ReceivedMail], address: str) -> ReceivedMail:
    [mail] = [mail for mail in mails if address in mail.rcpt_tos]
    return mail


def test_a_link_chosen_for_mails_reaches_the_vendors_list_and_order_mails_and_is_stored_nowhere(
    world: World, mail_server: MailServer,
) -> None:
    settings = _settings(mail_server)
    printer_token, caterer_token = _link(world, world.printer_id, settings), _link(world, world.caterer_id, settings)
    place_at(world, "a", [*tshirts(2), *BREAKFAST], delivery={"street": "1 High St", "city": "London",
                                                                "postcode": "N1 1AA", "country": "GB"})
    send_list(world)
    with read_only(world.engine) as session:
        stored = json.dumps([[row.subject, row.body_text, row.body_html] for row in session.scalars(
            select(OutboxMessage))] + [[link.token_hash, link.mail_nonce] for link in session.scalars(
                select(VendorLink))])
    assert printer_token not in stored and caterer_token not in stored
    assert stored.count(PORTAL_LINK_PLACEHOLDER) >= 2  # the printer's list and the caterer's order mail

    mails = _send(world, mail_server, settings, 3)  # the attendee's confirmation, the caterer's order, the list
    printer, caterer = _to(mails, "orders@print.example"), _to(mails, "kitchen@caterer.example")
    assert f"{PUBLIC}/vendor?t={printer_token}" in _text(printer)
    assert f"{PUBLIC}/vendor?t={caterer_token}" in _text(caterer)
    html_part = caterer.message.get_body(("html",))
    assert html_part is not None and f'href="{PUBLIC}/vendor?t={caterer_token}"' in str(html_part.get_content())
    attendee = [mail for mail in mails if mail not in (printer, caterer)]
    assert ["/vendor?t=" in _text(mail) for mail in attendee] == [False]
    # The link in the mail is the one the organiser was shown: it opens the vendor's portal.
    with unit_of_work(world.engine) as session:
        access = open_portal(session, printer_token, client="198.51.100.7")
    assert access is not None and access.vendor_id == world.printer_id


def test_a_link_not_chosen_for_mails_stays_out_of_them(world: World, mail_server: MailServer) -> None:
    settings = _settings(mail_server)
    token = _link(world, world.printer_id, settings, in_mails=False)
    with read_only(world.engine) as session:
        assert session.scalars(select(VendorLink.mail_nonce)).all() == [None]
    place_at(world, "a", tshirts(1))
    send_list(world)
    [_, printer] = _send(world, mail_server, settings, 2)
    assert "/vendor?t=" not in _text(printer) and token not in _text(printer)
    assert PORTAL_LINK_PLACEHOLDER not in _text(printer)


def test_a_mail_queued_before_its_link_was_replaced_or_the_key_changed_carries_no_working_link(
    world: World, mail_server: MailServer,
) -> None:
    settings = _settings(mail_server)
    old = _link(world, world.printer_id, settings)
    place_at(world, "a", tshirts(1))
    send_list(world)
    with unit_of_work(world.engine) as session:  # replaced, before the outbox sent the list, by a link not in mails
        new = rotate_vendor_link(session, world.alice, world.event_id, world.printer_id).path
    [_, printer] = _send(world, mail_server, settings, 2)
    assert NO_PORTAL_LINK in _text(printer) and old not in _text(printer) and new not in _text(printer)

    mail_server.clear()
    again = _link(world, world.printer_id, settings)
    place_at(world, "b", tshirts(1, size="S"), name="Grace Hopper", email="grace@example.com")
    send_list(world, now=BASE + timedelta(hours=1))  # the delta
    # The operator changed CODE_KEY since: the link rebuilt with the new key would open nothing, so none is given.
    [_, delta] = _send(world, mail_server, _settings(mail_server, key="another-code-key-of-forty-characters!!"), 2)
    assert NO_PORTAL_LINK in _text(delta) and again not in _text(delta)


def test_putting_a_link_in_mails_needs_the_apps_key(world: World) -> None:
    with unit_of_work(world.engine) as session, pytest.raises(DomainError, match="CODE_KEY"):
        create_vendor_link(session, world.alice, world.event_id, world.printer_id, in_mails=True,
                           settings=Settings())
