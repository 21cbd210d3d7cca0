"""Money: an event's currency, how amounts are written, and one total from the form to the mails and exports."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from core.catalogue import chosen_total, load_catalogue
from core.config import Settings
from core.dashboard import event_dashboard
from core.db import read_only, unit_of_work
from core.errors import EventValidationError
from core.event_admin import EventChanges, get_event_for_edit, update_event
from core.events import load_public_event
from core.exports import ExportFilters, order_sheets
from core.lookup import own_order
from core.mail_templates import sample_values, save_template
from core.mailer import YagmailMailer
from core.models import Event, MessageKind, Order, utcnow
from core.money import column_format, currency_codes, currency_problem, format_money, lines_total
from core.order_admin import order_detail
from core.orders import place_order
from core.outbox import dispatch
from tests.factories import answers, make_shop, make_user
from tests.factories.vendors import EVERYTHING, make_vendor_shop, place_everything
from tests.mail_server import MailServer, running_mail_server

# Two fitted M t-shirts at 12.50, a hoodie at 30 (and, in EVERYTHING, a breakfast box at 9.50).
CLOTHES = EVERYTHING[:2]
CLOTHES_TOTAL = Decimal("55.00")


@pytest.fixture
def server() -> Iterator[MailServer]:
    with running_mail_server() as running:
        yield running


def test_amounts_are_written_with_the_currencys_symbol_and_digits() -> None:
    assert format_money(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert format_money(Decimal("12"), "GBP") == "£12.00"
    # A symbol made of letters is kept apart from the number; yen have no minor unit.
    assert format_money(Decimal("12.5"), "CHF") == "CHF\u00a012.50"
    assert format_money(Decimal("1200"), "JPY") == "¥1,200"
    assert format_money(Decimal("0"), "USD") == "$0.00"
    assert format_money(None, "EUR") == ""
    assert column_format("EUR") == "€%.2f"
    assert column_format("JPY") == "¥%.0f"


def test_amounts_that_are_equal_but_written_differently_stay_apart_in_the_cache() -> None:
    """format_money is cached; -0 equals 0 and 15.0 equals 15, so a cache keyed by value would mix them up."""
    assert [format_money(amount, "EUR") for amount in (Decimal("-0"), Decimal("0"), 0)] == ["-€0.00", "€0.00", "€0.00"]
    assert format_money(Decimal("15"), "EUR") == format_money(15.0, "EUR") == "€15.00"
    assert format_money(Decimal("15"), "JPY") == "¥15"  # the currency is part of the key


def test_only_iso_4217_codes_in_use_are_currencies() -> None:
    assert {"EUR", "GBP", "USD", "CHF", "JPY", "SEK"} <= set(currency_codes())
    assert currency_problem("GBP") is None
    # A withdrawn currency, a lower-case code, a made-up one and no text at all are refused.
    for refused in ("DEM", "eur", "XYZ", "", None, 978):
        assert currency_problem(refused)


def test_a_total_is_none_when_any_line_has_no_price() -> None:
    assert lines_total([(Decimal("12.50"), 2), (Decimal("9.50"), 1)]) == Decimal("34.50")
    assert lines_total([]) == Decimal("0")
    assert lines_total([(Decimal("12.50"), 2), (None, 1)]) is None


def test_the_running_total_of_the_form_is_the_total_of_the_order_it_places(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        catalogue = load_catalogue(session, event, images=False)
        chosen = chosen_total(catalogue, CLOTHES)
        receipt = place_order(session, event, answers(items=CLOTHES), idempotency_key="k")
    assert chosen == receipt.total == CLOTHES_TOTAL
    assert receipt.currency == "EUR"
    # Half-filled lines (no quantity yet, an unknown item) count for nothing until they are complete.
    assert chosen_total(catalogue, [*CLOTHES, {"item": "tshirt", "options": {}, "quantity": 0},
                                    {"item": "gone", "options": {}, "quantity": 3}]) == CLOTHES_TOTAL
    assert chosen_total(catalogue, []) == Decimal("0")


def test_the_currency_is_set_in_the_event_settings_and_shown_everywhere(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        olivia = make_user(session, "olivia", member_of=[event])
        assert update_event(session, olivia, event.id, EventChanges(currency="GBP")) == ("currency",)
        assert get_event_for_edit(session, olivia, event.id).currency == "GBP"
        assert load_public_event(session, event.slug, utcnow()).currency == "GBP"
        receipt = place_order(session, event, answers(items=CLOTHES), idempotency_key="k")
    assert receipt.currency == "GBP"
    with read_only(engine) as session:
        order = session.query(Order).one()
        assert own_order(session, order.id).currency == "GBP"
        assert order_detail(session, olivia, event.id, receipt.reference).currency == "GBP"
        dashboard = event_dashboard(session, olivia, event.id)
        assert (dashboard.order_value, dashboard.currency) == (CLOTHES_TOTAL, "GBP")
        sheets = order_sheets(session, olivia, event.id, ExportFilters())
    assert sheets["Orders"]["Currency"].tolist() == ["GBP"]
    assert set(sheets["Line items"]["Currency"]) == {"GBP"}


def test_a_currency_not_in_iso_4217_is_refused_beside_its_input(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        olivia = make_user(session, "olivia", member_of=[event])
    with unit_of_work(engine) as session, pytest.raises(EventValidationError) as refused:
        update_event(session, olivia, event.id, EventChanges(currency="EURO"))
    assert "ISO 4217" in refused.value.errors["currency"]


def test_the_currency_stays_once_the_event_has_orders(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        olivia = make_user(session, "olivia", member_of=[event])
        place_order(session, event, answers(), idempotency_key="k")
    with unit_of_work(engine) as session, pytest.raises(EventValidationError) as refused:
        update_event(session, olivia, event.id, EventChanges(currency="USD"))
    assert "stays EUR" in refused.value.errors["currency"]
    with unit_of_work(engine) as session:  # saving the same currency again with other changes is fine
        assert update_event(session, olivia, event.id, EventChanges(currency="EUR", title="Renamed")) == ("title",)


def test_the_confirmation_and_the_vendor_mail_carry_the_total_over_smtp(engine: Engine, server: MailServer) -> None:
    shop = make_vendor_shop(engine)
    with unit_of_work(engine) as session:
        session.get_one(Event, shop.event_id).currency = "CHF"
        # {total} in a vendor's mail is that vendor's part only (the hoodie printer's one hoodie).
        save_template(session, shop.olivia, shop.event_id, MessageKind.VENDOR_ORDER, "Order {order_ref}",
                      "{items}\n{total}")
    place_everything(shop)
    settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                        mail_from="Event Orders <orders@example.org>")
    assert dispatch(engine, YagmailMailer(settings), now=utcnow()).sent == 3
    bodies = {mail.rcpt_tos[0]: mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
              for mail in server.received}
    assert "Total: CHF\u00a064.50" in bodies["ada@example.com"]
    assert "1 × Hoodie (L)\nTotal: CHF\u00a030.00" in bodies["hoodie-printer@vendors.example"]


def test_the_template_preview_shows_a_total_in_the_events_currency(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, currency="SEK")
        # The preview orders one each of the first two items: a t-shirt at 12.50 and a hoodie at 30.
        assert sample_values(session, event)["total"] == "Total: SEK\u00a042.50"
