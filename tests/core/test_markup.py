"""Organiser-written Markdown: unsafe links and images never come out live; everything else survives."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mail_templates import PLACEHOLDERS, placeholders_for, render_mail
from core.markup import escape_markdown, is_allowed_link, safe_markdown
from core.models import MessageKind
from tests.markup_checks import PAYLOADS, PERMISSIVE, live_addresses, unsafe_addresses

# Relative links or plain text already; listed to show they stay harmless.
HARMLESS_AS_WRITTEN = {"[j](java%0ascript:alert(1))", "&#91;x](data:y)"}
UNSAFE_SCHEMES = ("data:", "javascript:", "vbscript:", "file:", "blob:", "xmpp:", "ftp:")


def _html(markdown: str) -> str:
    return PERMISSIVE.render(markdown)


def _addresses(markdown: str) -> list[str]:
    return live_addresses(markdown)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_unsafe_link_or_image_survives(payload: str) -> None:
    after = unsafe_addresses(safe_markdown(payload))
    assert after == []
    html = _html(safe_markdown(payload)).lower()
    assert not any(f'="{scheme}' in html for scheme in UNSAFE_SCHEMES), html
    # The payload list has teeth: as written, each is a live unsafe link or raw HTML to a permissive renderer.
    if payload not in HARMLESS_AS_WRITTEN:
        assert unsafe_addresses(payload) != []


def test_unsafe_links_keep_their_text_and_images_their_alternative_text() -> None:
    assert safe_markdown("Read [the terms](data:text/html,x) first.") == "Read the terms first."
    assert safe_markdown("![Our logo](javascript:x)") == "Our logo"
    assert "inner" in safe_markdown("[![inner](https://example.org/a.png)](data:x)")


def test_http_https_mailto_and_relative_links_stay_live() -> None:
    text = ("[site](https://example.org/a?b=1) [plain](http://example.org) [mail](mailto:orders@example.org) "
            "[lookup](/lookup) [anchor](#faq) ![logo](https://example.org/logo.png) <https://example.org/auto> "
            "and www.example.org or ada@example.org")
    assert _addresses(safe_markdown(text)) == [
        "https://example.org/a?b=1", "http://example.org", "mailto:orders@example.org", "/lookup", "#faq",
        "https://example.org/logo.png", "https://example.org/auto", "http://www.example.org",
        "mailto:ada@example.org"]


@pytest.mark.parametrize("url", ["https://a.example", "HTTP://a.example", "mailto:x@example.org", "/p", "p/q",
                                 "#f", "?q=1", "//cdn.example/x"])
def test_allowed_links(url: str) -> None:
    assert is_allowed_link(url)


@pytest.mark.parametrize("url", ["data:x", "javascript:x", " JavaScript:x", "java\tscript:x", "java\nscript:x",
                                 "\x01javascript:x", "vbscript:x", "file:///x", "ftp://x", "xmpp:a@b"])
def test_refused_links(url: str) -> None:
    assert not is_allowed_link(url)


DOCUMENTS = [
    "Thanks, all sold!",
    "Tea & cake, 10:00 - 12:00! Prices: 5 EUR (students 3 EUR); see you?",
    "# Summer Meetup\n\nOrganic *cotton* t-shirts, **printed locally**; `code` and ~~old~~ new.\n\n"
    "- one\n- two\n  1. nested\n  2. list\n\n> A quote\n> on two lines\n\n---\n\n"
    "```python\nprint('[x](data:y)')\n```\n\n| Item | Price |\n|:--|--:|\n| Shirt | 12 |",
    "Line one  \nline two\\\nline three\nline four",
    "1986\\. A great year\n\\- not a list\n\\+ nor this\n\\# nor a heading\nunder\n\\===",
    "Escaped \\*stars\\*, \\_underscores\\_, \\`ticks\\` and a \\\\ backslash; 50% off & more.",
    "Loose list:\n\n- one\n\n- two\n\n3) three\n4) four",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_document_without_unsafe_links_renders_as_before(document: str) -> None:
    assert _html(safe_markdown(document)) == _html(document)


def test_plain_prose_is_left_as_written() -> None:
    for text in ("Thanks, all sold!", "Bring a friend (or two) - it's free.", "Doors open at 6 pm."):
        assert safe_markdown(text) == text


def test_dollar_signs_are_money_not_maths() -> None:
    assert safe_markdown("Tickets $20, or $30 at the door") == r"Tickets \$20, or \$30 at the door"


def test_escape_markdown_shows_a_name_exactly_as_written() -> None:
    for name in ("T-shirt", "[x](data:y)", "1. *Limited*", "- dash", "<b>Hoodie</b> & $5", "Tom_s"):
        rendered = _html(escape_markdown(name))
        assert "href" not in rendered and "<em>" not in rendered and "<li>" not in rendered
        assert re.sub(r"<[^>]+>", "", rendered).strip() == name.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;")


_MARKDOWNISH = st.lists(st.sampled_from([*"[]()<>!:*_`\\#-+=.|~$&;/ \n\tadhjpstvx@19", "data:", "javascript:",
                                         "vbscript:", "file:", "https://e.org", "mailto:", "www.", "&#58;", "&#106;"]),
                        max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MARKDOWNISH)
def test_no_text_whatsoever_gives_an_unsafe_link(text: str) -> None:
    assert unsafe_addresses(safe_markdown(text)) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_mail_html_built_from_a_template_has_no_link_at_all(payload: str) -> None:
    """Mail templates are plain text: the HTML part escapes the organiser's words and the values alike."""
    kind = MessageKind.CONFIRMATION
    values = {name: payload if name in PLACEHOLDERS else "x" for name in placeholders_for(kind)}
    literal = payload.replace("{", "{{").replace("}", "}}")  # braces in a template are written doubled
    mail = render_mail(kind, "Your order {order_ref}", f"Hello {{name}},\n\n{literal}\n\n{{items}}", values)
    assert payload.split("\n")[0] in mail.text
    assert re.findall(r"<\s*([a-z]+)", mail.html.lower()) == ["br"] * mail.html.count("<br>")
