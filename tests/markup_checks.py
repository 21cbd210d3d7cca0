"""What a browser would make of Markdown: every live link and image address, found by a permissive parser."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# What an attacker writes into a description, help text or closed message.
PAYLOADS = [
    "[d](data:text/html,<script>alert(1)</script>)",
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[j](javascript:alert(1))",
    "[j](JaVaScRiPt:alert(1))",
    "[j](javascript&#58;alert(1))",
    "[j](&#106;avascript:alert(1))",
    "[j](<javascript:alert(1)>)",
    "[j](java%0ascript:alert(1))",
    "[v](vbscript:msgbox(1))",
    "[f](file:///etc/passwd)",
    "[b](blob:https://example.org/uuid)",
    "<data:text/html,<script>alert(1)</script>>",
    "<javascript:alert(1)>",
    "<file:///etc/passwd>",
    "[d][x]\n\n[x]: data:text/html,evil",
    "[x]\n\n[x]: javascript:alert(1)",
    "[d][]\n\n[d]: <vbscript:x> \"title\"",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![img](javascript:alert(1))",
    "![img][pic]\n\n[pic]: data:image/png;base64,AAAA",
    "[![inner](https://example.org/a.png)](data:text/html,x)",
    "[outer ![img](data:x)](https://example.org)",
    "* [list](data:x)\n  > [quote](javascript:x)\n\n| a |\n|---|\n| [cell](data:y) |",
    "# [heading](data:x)\n\n**[bold](vbscript:x)** ~~[s](file:x)~~",
    ":red[[d](data:x)] $\\href{javascript:alert(1)}{x}$",
    "\\[not a link](data:x) but [this](data:y)",
    "&#91;x](data:y)",
    "xmpp:ada@example.org ftp://example.org/file",
    '<a href="data:text/html,x">raw</a> <img src=x onerror=alert(1)>',
]


def _permissive_parser() -> MarkdownIt:
    """A second CommonMark parser, which follows every link it can find and passes raw HTML through."""
    parser = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough", "linkify"])
    parser.validateLink = lambda url: True  # type: ignore[method-assign]
    return parser


PERMISSIVE = _permissive_parser()


def live_addresses(markdown: str) -> list[str]:
    """Every link and image address a Markdown renderer would make live in `markdown`; raw HTML as "html:…"."""
    found: list[str] = []
    for token in PERMISSIVE.parse(markdown):
        for child in [token, *(token.children or [])]:
            if child.type in ("link_open", "image"):
                found.append(str(child.attrs.get("href") or child.attrs.get("src")))
            elif child.type in ("html_inline", "html_block"):
                found.append(f"html:{child.content}")
    return found


def unsafe_addresses(markdown: str) -> list[str]:
    """The live addresses in `markdown` with a scheme other than http, https or mailto, and any raw HTML."""
    unsafe = []
    for address in live_addresses(markdown):
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", re.sub(r"[\x00-\x20\x7f]", "", address))
        if address.startswith("html:") or scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
            unsafe.append(address)
    return unsafe
