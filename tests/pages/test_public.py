"""The public order page through AppTest: rendered from the stored schema, errors beside fields, one order per click."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.db import read_only, unit_of_work
from core.demo import seed_demo
from core.form_versions import save_form
from core.models import Event, Item, Order, OrderPersonalData, utcnow
from tests.factories import BASIC_FORM, make_shop
from tests.markup_checks import PAYLOADS, live_addresses, unsafe_addresses
from tests.pages.conftest import AppFactory


def _demo(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        seed_demo(session)


def _orders(engine: Engine) -> list[Order]:
    with read_only(engine) as session:
        return list(session.scalars(select(Order)).all())


def _texts(at: AppTest) -> str:
    """Every piece of text on the page, for assertions about what a person reads."""
    parts = [e.value for kind in ("title", "markdown", "caption", "info", "error", "success") for e in getattr(at, kind)]
    return "\n".join(str(part) for part in parts)


def _fill_valid_demo_order(at: AppTest) -> None:
    at.text_input(key="order.demo.name").input("Ada Lovelace")
    at.text_input(key="order.demo.email").input("ada@example.com")
    at.selectbox(key="order.demo.items.tshirt.0.type").select("Fitted")
    at.selectbox(key="order.demo.items.tshirt.0.size").select("M")
    at.selectbox(key="order.demo.items.tshirt.0.colour").select("Black")
    at.number_input(key="order.demo.items.tshirt.0.quantity").set_value(2)
    at.checkbox(key="order.demo.consent").check()


def _submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Place order").click().run()


def test_form_is_rendered_from_the_stored_schema(app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    assert not at.exception
    assert at.title[0].value == "Summer Meetup 2027"
    assert "Organic cotton" in _texts(at)
    assert [w.label for w in at.text_input] == ["Full name *", "Email *", "Mobile phone"]
    assert [w.label for w in at.selectbox] == ["T-shirt type", "T-shirt size", "T-shirt colour", "Hoodie size"]
    assert [w.label for w in at.number_input] == ["T-shirt quantity", "Hoodie quantity", "Breakfast box quantity"]
    assert len(at.get("image")) == 1  # the header image
    # The breakfast address appears only once a breakfast box is chosen.
    assert not [w for w in at.text_input if w.key.startswith("order.demo.delivery")]
    at.number_input(key="order.demo.items.breakfast.0.quantity").set_value(1).run()
    assert [w.label for w in at.text_input if w.key.startswith("order.demo.delivery")] == [
        "Street and number", "City", "Postcode"]


def test_description_markdown_does_not_render_raw_html(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, description="**Bold** <script>alert(1)</script><img src=x onerror=alert(2)>")
    at = app("test-event")
    description = next(m for m in at.markdown if "Bold" in m.value)
    assert description.proto.allow_html is False


def test_invalid_answers_are_reported_beside_their_fields_and_kept(app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    at.text_input(key="order.demo.name").input("Ada Lovelace")
    at.text_input(key="order.demo.email").input("ada@")
    at.text_input(key="order.demo.phone").input("12")
    at = _submit(at)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert "There must be something after the @-sign." in errors  # email-validator's own words
    assert any("phone number" in message for message in errors)
    assert "Choose at least one item." in errors
    assert "Please tick this box to continue." in errors
    assert at.text_input(key="order.demo.name").value == "Ada Lovelace"  # nothing typed is lost
    assert at.text_input(key="order.demo.email").value == "ada@"
    assert _orders(engine) == []
    # Each error sits right after the input it belongs to.
    children = list(at.main)
    email_at = next(i for i, c in enumerate(children) if getattr(c, "key", None) == "order.demo.email")
    assert children[email_at + 1].type == "error"


def test_valid_order_is_stored_and_the_reference_shown(app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    _fill_valid_demo_order(at)
    at = _submit(at)
    assert not at.exception
    [order] = _orders(engine)
    assert order.reference in _texts(at)
    assert "Thank you" in at.success[0].value
    summary = at.dataframe[0].value
    assert summary.to_dict("records")[0]["Choice"] == "Fitted, M, Black"
    assert summary.to_dict("records")[0]["Quantity"] == 2
    with read_only(engine) as session:
        assert session.get(OrderPersonalData, order.id).answers["email"] == "ada@example.com"


def test_the_confirmation_stays_without_the_form_even_when_the_event_closes_meanwhile(
        app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    _fill_valid_demo_order(at)
    at = _submit(at)
    [order] = _orders(engine)
    assert at.title[0].value == "Summer Meetup 2027"
    assert not at.text_input and not [b for b in at.button if b.label == "Place order"]
    with unit_of_work(engine) as session:
        session.scalars(select(Event)).one().closes_at = utcnow() - timedelta(minutes=1)
    at.run()
    assert order.reference in _texts(at) and "closed" not in _texts(at)


def test_second_click_and_rerun_do_not_create_a_second_order(app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    _fill_valid_demo_order(at)
    at = _submit(at)
    [first] = _orders(engine)
    # A double click: the second click is handled before the page has redrawn, with the same form session.
    del at.session_state["order.demo.receipt"]
    at = _submit(at.run())
    at.run()  # and a plain rerun of the page
    assert [order.reference for order in _orders(engine)] == [first.reference]
    assert first.reference in _texts(at)


def test_a_new_form_session_after_an_order_places_a_new_order(app: AppFactory, engine: Engine) -> None:
    _demo(engine)
    at = app("demo")
    _fill_valid_demo_order(at)
    at = _submit(at)
    at = next(b for b in at.button if b.label == "Place another order").click().run()
    assert at.text_input(key="order.demo.name").value == ""
    _fill_valid_demo_order(at)
    # Something else this time: the very same answers within minutes are the first order again (see the next test).
    at.number_input(key="order.demo.items.tshirt.0.quantity").set_value(1)
    _submit(at)
    assert len({order.reference for order in _orders(engine)}) == 2


def test_unknown_event_gets_a_page_of_its_own(app: AppFactory) -> None:
    at = app("no-such-event")
    assert not at.exception
    assert at.title[0].value == "Event not found"
    assert not at.button


def test_event_not_open_yet_says_when_it_opens(app: AppFactory, engine: Engine) -> None:
    opens = utcnow() + timedelta(days=3)
    with unit_of_work(engine) as session:
        make_shop(session, opens_at=opens, timezone="Europe/Berlin")
    at = app("test-event")
    assert "Orders open on" in at.info[0].value and "Europe/Berlin" in at.info[0].value
    assert not at.text_input


def test_the_same_answers_from_a_new_session_show_the_first_order(app: AppFactory, engine: Engine) -> None:
    """The server restarted after the order committed: the attendee reloads and submits the same answers again."""
    _demo(engine)
    first = app("demo")
    _fill_valid_demo_order(first)
    first = _submit(first)
    [order] = _orders(engine)
    assert "Thank you" in first.success[0].value
    again = app("demo")  # a new session: a new idempotency key
    _fill_valid_demo_order(again)
    again = _submit(again)
    assert not again.exception
    assert [o.reference for o in _orders(engine)] == [order.reference]
    assert again.info[0].value == (f"You already placed this order, reference {order.reference}. "
                                   "Nothing new was ordered.")
    assert not again.success


def _markdown_on_the_page(at: AppTest) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown: texts, captions, labels, help, options."""
    texts = [e.value for kind in ("title", "markdown", "caption", "info", "error", "success")
             for e in getattr(at, kind)]
    for kind in ("text_input", "text_area", "number_input", "selectbox", "multiselect", "radio", "checkbox",
                 "date_input", "button"):
        for widget in getattr(at, kind):
            texts += [widget.label, getattr(widget.proto, "help", "")]
            texts += list(getattr(widget.proto, "options", []))
    return [str(text) for text in texts if text]


def _unsafe_addresses(at: AppTest) -> list[str]:
    return [address for text in _markdown_on_the_page(at) for address in unsafe_addresses(text)]


def test_no_organiser_markdown_renders_an_unsafe_link_on_the_public_page(app: AppFactory, engine: Engine) -> None:
    """Descriptions, item descriptions, labels, help texts and options: only http(s), mailto and relative links."""
    payloads = "\n\n".join(PAYLOADS)
    fields = BASIC_FORM["fields"]
    # Help texts are short (500 characters at most): each field gets its share of the payloads.
    form = {"fields": [{**field, "help": "\n\n".join(PAYLOADS[n::len(fields)])} for n, field in enumerate(fields)]
            + [{"key": "agree", "type": "checkbox", "label": "I agree to the [terms](https://example.org/terms) "
                "and [this](javascript:alert(1))", "required": True},
               {"key": "choice", "type": "single_choice", "label": "Pick", "options": ["[a](data:x)", "b"]}]}
    with unit_of_work(engine) as session:
        event = make_shop(session, description=f"Welcome! [Our site](https://example.org)\n\n{payloads}")
        save_form(session, event, form)
        for item in session.scalars(select(Item)):
            item.description = f"Soft [cotton](https://example.org/cotton) {payloads}"
    at = app("test-event")
    assert not at.exception
    assert _unsafe_addresses(at) == []
    live = [address for text in _markdown_on_the_page(at) for address in live_addresses(text)]
    assert {"https://example.org", "https://example.org/cotton", "https://example.org/terms"} <= set(live)


def test_the_closed_message_renders_no_unsafe_link(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, closes_at=utcnow() - timedelta(hours=1),
                  closed_message="Closed. [More](data:text/html,<script>alert(1)</script>) <javascript:alert(1)>")
    at = app("test-event")
    assert at.info[0].value.startswith("Closed. More")
    assert _unsafe_addresses(at) == []


def test_closed_event_shows_the_organisers_message(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, closes_at=utcnow() - timedelta(hours=1), closed_message="Thanks, all sold!")
    at = app("test-event")
    assert at.info[0].value == "Thanks, all sold!"
    assert not at.text_input


def test_no_slug_shows_a_friendly_landing_page(app: AppFactory) -> None:
    at = app()
    assert not at.exception
    assert at.title[0].value == "Event Orders"
    at.text_input[0].input("No-Such-Event")
    at = at.button[0].click().run()
    assert at.query_params["event"] == "no-such-event"
    assert at.title[0].value == "Event not found"


def test_broken_stored_form_shows_a_clear_page_not_a_stack_trace(app: AppFactory, engine: Engine) -> None:
    from core.models import FormVersion

    with unit_of_work(engine) as session:
        make_shop(session)
        session.flush()
        session.scalars(select(FormVersion)).one().schema = {"fields": "nonsense"}
    at = app("test-event")
    assert not at.exception
    assert at.title[0].value == "This form is not available"



def test_published_event_without_a_form_says_the_form_is_not_available(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, form=None)
    at = app("test-event")
    assert not at.exception
    assert at.title[0].value == "This form is not available"
