"""The public order page (`/order`) through AppTest: rendered from the stored schema, errors beside fields, one order
per click; the codes that open the form or some items; stock shown and refused beside the item."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.code_admin import CodeBatch, generate_codes
from core.config import code_key, load_settings
from core.db import read_only, unit_of_work
from core.demo import seed_demo
from core.form_versions import save_form
from core.models import CodeMode, Event, Item, Order, OrderPersonalData, RedemptionCode, Variant, utcnow
from tests.commit_faults import commits_of_orders_fail
from tests.factories import BASIC_FORM, make_shop, make_user
from tests.factories.stock import set_stock
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
    summary = at.table[0].value
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


def test_a_failed_commit_shows_no_reference_and_keeps_the_answers(app: AppFactory, engine: Engine) -> None:
    """Issue 15, point 3: the receipt is kept only after the order's commit."""
    _demo(engine)
    at = app("demo")
    _fill_valid_demo_order(at)
    with commits_of_orders_fail():
        at = _submit(at)
        at.run()  # and the next rerun must not find a receipt either
    assert not at.exception
    assert _orders(engine) == []
    assert [e.value for e in at.error] == ["Your order was not saved. Please try again."]
    assert "order.demo.receipt" not in at.session_state
    assert not at.success and "reference" not in _texts(at)
    assert at.text_input(key="order.demo.name").value == "Ada Lovelace"  # the answers are kept
    at = _submit(at)  # and trying again places it
    [order] = _orders(engine)
    assert order.reference in _texts(at)


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


# --- Codes on the public form -----------------------------------------------------------------------------------------

PREFIX = "order.test-event"


def _shop(engine: Engine, mode: CodeMode, *, max_uses: int = 1, item_keys: tuple[str, ...] = ()) -> str:
    """The test shop in `mode` (ITEMS: the hoodie needs a code) and one code for it, returned in clear."""
    with unit_of_work(engine) as session:
        event = make_shop(session, code_mode=mode)
        session.scalars(select(Item).where(Item.key == "hoodie")).one().requires_code = mode == CodeMode.ITEMS
        organiser = make_user(session, "olivia", member_of=[event])
        return generate_codes(session, organiser, event.id, CodeBatch(count=1, max_uses=max_uses, item_keys=item_keys),
                              key=code_key(load_settings())).codes[0]


def _codes_texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "info", "error", "success") for e in getattr(at, kind))


def _enter_code(at: AppTest, code: str) -> AppTest:
    next(w for w in at.text_input if w.label == "Your code").input(code)
    return next(b for b in at.get("form_submit_button") if b.label == "Open the order form").click().run()


def _fill(at: AppTest, *, hoodie: bool = False) -> None:
    at.text_input(key=f"{PREFIX}.name").input("Ada Lovelace")
    at.text_input(key=f"{PREFIX}.email").input("ada@example.com")
    if hoodie:
        at.selectbox(key=f"{PREFIX}.items.hoodie.0.size").select("M")
        at.number_input(key=f"{PREFIX}.items.hoodie.0.quantity").set_value(1)
    else:
        at.selectbox(key=f"{PREFIX}.items.tshirt.0.type").select("Fitted")
        at.selectbox(key=f"{PREFIX}.items.tshirt.0.size").select("M")
        at.number_input(key=f"{PREFIX}.items.tshirt.0.quantity").set_value(1)


def _codes_submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Place order").click().run()


def _orders_and_uses(engine: Engine) -> tuple[int, list[int]]:
    with read_only(engine) as session:
        return (len(session.scalars(select(Order.id)).all()), list(session.scalars(select(RedemptionCode.uses))))


def test_form_mode_opens_the_form_only_with_a_valid_code(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM)
    at = app("test-event")
    assert not at.exception
    assert "Please enter the code you were given" in _codes_texts(at)
    assert not [w for w in at.text_input if w.key == f"{PREFIX}.name"]  # no form yet
    at = _enter_code(at, "WRONG-CODE-99")
    assert [e.value for e in at.error] == ["This code is not known. Please check it and try again."]
    at = _enter_code(at, " " + code.lower().replace("-", " "))
    assert not at.exception and "Your code is accepted." in _codes_texts(at)
    _fill(at)
    at = _codes_submit(at)
    assert not at.exception
    assert "Thank you, your order has been received." in _codes_texts(at)
    assert _orders_and_uses(engine) == (1, [1])
    # The code was single-use: another attendee's session cannot open the form with it.
    at = _enter_code(app("test-event"), code)
    assert [e.value for e in at.error] == ["This code has already been used."]


def test_form_mode_refuses_items_the_code_is_not_for_and_offers_another_code(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM, item_keys=("hoodie",))
    at = _enter_code(app("test-event"), code)
    assert "It is valid for: Hoodie." in _codes_texts(at)
    _fill(at)  # a t-shirt
    at = _codes_submit(at)
    assert "This code is not valid for T-shirt." in [e.value for e in at.error]
    assert _orders_and_uses(engine) == (0, [0])
    at = next(b for b in at.button if b.label == "Enter another code").click().run()
    assert "Please enter the code you were given" in _codes_texts(at)


def test_items_mode_needs_a_code_only_for_the_marked_items(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.ITEMS)
    at = app("test-event")
    assert at.text_input(key=f"{PREFIX}.code_input").label == "Redemption code"
    assert "Needed only to order Hoodie." in _codes_texts(at)
    _fill(at, hoodie=True)
    at = _codes_submit(at)
    assert "Please enter your code." in [e.value for e in at.error]
    at.text_input(key=f"{PREFIX}.code_input").input("WRONG-CODE-99")
    at = _codes_submit(at)
    assert "This code is not known. Please check it and try again." in [e.value for e in at.error]
    at.text_input(key=f"{PREFIX}.code_input").input(code.lower())
    at = _codes_submit(at)
    assert not at.exception and "Thank you, your order has been received." in _codes_texts(at)
    assert _orders_and_uses(engine) == (1, [1])
    # A t-shirt needs no code.
    at = app("test-event")
    _fill(at)
    at = _codes_submit(at)
    assert "Thank you, your order has been received." in _codes_texts(at)
    assert _orders_and_uses(engine) == (2, [1])


def test_wrong_codes_are_throttled_with_a_clear_message(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM)
    at = app("test-event")
    for _ in range(6):
        at = _enter_code(at, "WRONG-CODE-99")
    assert at.error[0].value.startswith("This code is not known. Please check it and try again. Too many wrong "
                                        "codes. Please wait ")
    at = _enter_code(at, code)  # right, but too soon
    assert at.error[0].value.startswith("Too many wrong codes. Please wait")
    assert "Your code is accepted." not in _codes_texts(at)


def test_the_app_refuses_to_start_with_a_short_code_key(
    app: AppFactory, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODE_KEY", "too-short")
    at = app("test-event")
    assert [e.value for e in at.error] == ["Event Orders is not configured: CODE_KEY is too short: use at least 32 "
                                           "random characters."]


def test_submissions_are_throttled_per_client(app: AppFactory, engine: Engine) -> None:
    _shop(engine, CodeMode.NONE)
    at = app("test-event")
    submits = 0
    while "Too many orders" not in _codes_texts(at) and submits < 30:
        at = _codes_submit(at)  # empty: each is refused, and counted
        submits += 1
    # Twenty go through (the score decays a little between them, so perhaps a twenty-first), then the client waits.
    assert 21 <= submits <= 22
    assert "Too many orders were sent from your connection in a short time. Please wait" in _codes_texts(at)


# --- Stock on the public form -----------------------------------------------------------------------------------------

def _stock_texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption", "error") for e in getattr(at, kind)]


def _stock_shop(engine: Engine, stocks: dict[tuple[str, str], int]) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        for (item_key, variant_key), stock in stocks.items():
            set_stock(session, event, item_key, variant_key, stock)


def test_sold_out_variants_and_few_left_are_shown_beside_the_item(app: AppFactory, engine: Engine) -> None:
    _stock_shop(engine, {("tshirt", "Fitted/M"): 0, ("tshirt", "Straight/L"): 3, ("breakfast", ""): 2})
    at = app("test-event")
    assert not at.exception
    texts = _stock_texts(at)
    assert "Sold out: Fitted, M. Only a few left: Straight, L (3)." in texts
    assert "Only 2 left." in texts  # breakfast, an item without variants


def test_an_item_with_nothing_left_is_marked_sold_out_and_offers_no_inputs(app: AppFactory, engine: Engine) -> None:
    _stock_shop(engine, {("hoodie", size): 0 for size in ("S", "M", "L")})
    at = app("test-event")
    assert ":red-badge[Sold out]" in _stock_texts(at)
    assert not [w for w in at.selectbox if w.key.startswith("order.test-event.items.hoodie")]
    assert [w.label for w in at.number_input] == ["T-shirt quantity", "Breakfast box quantity"]


def test_ordering_what_sold_out_meanwhile_shows_the_refusal_beside_the_item(app: AppFactory, engine: Engine) -> None:
    _stock_shop(engine, {("tshirt", "Fitted/M"): 1})
    at = app("test-event")
    at.text_input(key="order.test-event.name").input("Ada Lovelace")
    at.text_input(key="order.test-event.email").input("ada@example.com")
    at.selectbox(key="order.test-event.items.tshirt.0.type").select("Fitted")
    at.selectbox(key="order.test-event.items.tshirt.0.size").select("M")
    at.number_input(key="order.test-event.items.tshirt.0.quantity").set_value(1)
    with unit_of_work(engine) as session:  # someone else takes the last one while the form is open
        variant = session.scalars(select(Variant).join(Item).where(Item.key == "tshirt", Variant.key == "Fitted/M")
                                  ).one()
        variant.sold = 1
    at = next(b for b in at.button if b.label == "Place order").click().run()
    assert not at.exception
    assert "T-shirt (Fitted, M) is sold out." in [e.value for e in at.error]
    with read_only(engine) as session:
        assert session.scalars(select(Order)).all() == []
        assert session.scalars(select(Event.sold_out_at)).one() is None


def test_an_event_closed_because_everything_sold_out_says_so(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, close_when_sold_out=True, sold_out_at=utcnow() - timedelta(minutes=1))
        event.closed_message = ""
    at = app("test-event")
    assert [i.value for i in at.info] == ["Everything is sold out, so orders are closed."]
    assert not at.number_input
