"""Organiser-written Markdown made safe to show: only http, https, mailto and relative links stay live.

Streamlit renders Markdown in the browser and drops only `javascript:` and `vbscript:` links, so a description
holding `[d](data:text/html,...)` would render a live `data:` link. Rather than trusting patterns over the source,
`safe_markdown` parses it with a real CommonMark parser (markdown-it-py, with GFM tables, strikethrough and
bare-URL links), drops every link and image whose address is not allowed (keeping their text), and writes the
document out again as Markdown in which every piece of text is escaped. Whatever Streamlit's own parser makes
of that output, the only links in it are the ones written here, each checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"http", "https"})

# Text is escaped only where a character could mean something, so that ordinary prose ("Tea & cake, 10:00 - 12:00!")
# comes out as written. Always: what opens links, images, HTML, code, emphasis, tables, headings and Streamlit's
# `$math$`; an `&` that would read as an entity; a `:` glued to a word (`xmpp:ada@example.org` is a link to GitHub's
# Markdown); and at the start of a line what would begin a list, a quote or a heading underline. A backslash is
# punctuation itself, so escaping never changes whether a neighbouring `*` opens or closes emphasis.
_ALWAYS_ESCAPED = re.compile(r"([\\`*_\[\]<>$~|#])")
_ENTITY_AMPERSAND = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_WORD_COLON = re.compile(r"(?<=[A-Za-z0-9+.\-]):(?=\S)")
_LINE_START = re.compile(r"^( *)(\d{0,9})([-+=.)])", re.MULTILINE)
# What browsers strip from a URL before reading its scheme ("java\tscript:" is javascript:).
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_INFO_WORD = re.compile(r"[A-Za-z0-9_+\-]*")
# Bare text that GitHub's Markdown (and so Streamlit's) makes a link; linkify also finds "report.md" (Moldova).
_GFM_BARE_LINK = re.compile(r"(https?://|www\.|[^\s@]+@[^\s@]+\.[^\s@]+$)", re.IGNORECASE)


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(["table", "strikethrough", "linkify"])
    # Judged while writing the output instead: a refused link keeps its text, where markdown-it would keep a link
    # with an empty address (a live link to the page itself).
    parser.validateLink = lambda url: True  # type: ignore[method-assign]
    return parser


_MARKDOWN = _parser()


def safe_markdown(text: str | None) -> str:
    """`text` (organiser-written Markdown) as Markdown whose only live links and images have allowed addresses.

    Links keep their text when their address is refused, images their alternative text; raw HTML is shown as
    text. Headings, emphasis, lists, quotes, code, tables and line breaks survive.
    """
    if not text or not text.strip():
        return ""
    return _safe_markdown(text)


# The public form passes every label, help text and description through here on every script run (some 13 per
# run of the demo form, ~0.15 ms each: bench/README.md); the result depends on the text alone.
@lru_cache(maxsize=2048)
def _safe_markdown(text: str) -> str:
    tree = SyntaxTreeNode(_MARKDOWN.parse(text))
    return "\n\n".join("\n".join(_block(child)) for child in tree.children).strip("\n")


def escape_markdown(text: str | None) -> str:
    """`text` shown exactly as written where Streamlit reads Markdown (a name inside a label or a heading)."""
    if not text:
        return ""
    return _escape_line_starts(" ".join(_escape(line.strip()) for line in text.splitlines()))


def is_allowed_link(url: str, schemes: Iterable[str] = LINK_SCHEMES) -> bool:
    """Whether `url` is relative or uses one of `schemes` (as a browser reads it: tabs, newlines, case ignored)."""
    match = _SCHEME.match(_IGNORED_IN_URL.sub("", url))
    return match is None or match.group(1).lower() in schemes


# --- Writing the parsed document back out ------------------------------------------------------------------------


def _block(node: SyntaxTreeNode) -> list[str]:
    """The lines of one block (a paragraph, a list, ...), without the blank lines around it."""
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node).split("\n")
    if kind == "heading":
        level = int(node.tag[1])
        return ["#" * level + " " + _inline_of(node).replace("\n", " ")]
    if kind == "blockquote":
        return [f"> {line}" if line else ">" for line in _blocks(node.children, tight=False)]
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind in ("fence", "code_block"):
        return _code_block(node)
    if kind == "hr":
        return ["---"]
    if kind == "table":
        return _table(node)
    # Nothing else reaches here with raw HTML switched off; text of an unknown block is kept, escaped.
    return [_escape(node.content)] if node.content else []


def _blocks(nodes: Iterable[SyntaxTreeNode], *, tight: bool) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        if lines and not tight:
            lines.append("")
        lines.extend(_block(node))
    return lines


def _list(node: SyntaxTreeNode) -> list[str]:
    tight = all(paragraph.hidden for item in node.children for paragraph in item.children
                if paragraph.type == "paragraph")
    number = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
    lines: list[str] = []
    for item in node.children:
        if lines and not tight:
            lines.append("")
        if node.type == "ordered_list":
            marker = f"{number}{item.markup or '.'}"
            number += 1
        else:
            marker = item.markup or "-"
        body = _blocks(item.children, tight=tight) or [""]
        indent = " " * (len(marker) + 1)
        lines.append(f"{marker} {body[0]}".rstrip())
        lines.extend(f"{indent}{line}" if line else "" for line in body[1:])
    return lines


def _code_block(node: SyntaxTreeNode) -> list[str]:
    content = node.content.removesuffix("\n")
    fence = "`" * max(3, _longest_run(content, "`") + 1)
    language = _INFO_WORD.match(node.info.strip()).group(0) if node.type == "fence" else ""  # type: ignore[union-attr]
    return [fence + language, *content.split("\n"), fence] if content else [fence + language, fence]


def _table(node: SyntaxTreeNode) -> list[str]:
    rows = [row for section in node.children for row in section.children]
    if not rows:
        return []
    header = rows[0].children
    align = {"text-align:left": ":--", "text-align:center": ":-:", "text-align:right": "--:"}
    separator = [align.get(str(cell.attrs.get("style", "")), "---") for cell in header]
    lines = []
    for index, row in enumerate(rows):
        cells = [_inline_of(cell, in_table=True).replace("\n", " ") for cell in row.children]
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append("| " + " | ".join(separator) + " |")
    return lines


def _inline_of(node: SyntaxTreeNode, *, in_table: bool = False) -> str:
    """The inline content of a block (its one `inline` child), written out."""
    written = "".join(_inline(child, in_table) for inline in node.children for child in inline.children)
    # Only text can put a digit or one of `-+=.)` first on a line: the syntax written here never does.
    return _escape_line_starts(written)


def _inline(node: SyntaxTreeNode, in_table: bool) -> str:
    kind = node.type
    if kind == "text":
        return _escape(node.content)
    if kind == "softbreak":
        return "\n"
    if kind == "hardbreak":
        return "\\\n"
    if kind == "code_inline":
        return _code_span(node.content.replace("|", "\\|") if in_table else node.content)
    inner = "".join(_inline(child, in_table) for child in node.children)
    if kind in ("em", "strong"):
        return f"{node.markup}{inner}{node.markup}"
    if kind == "s":
        return f"~~{inner}~~"
    if kind == "link":
        href = str(node.attrs.get("href", ""))
        if not is_allowed_link(href) or (node.markup == "linkify" and not _GFM_BARE_LINK.match(_plain(node))):
            return inner
        return f"[{inner}]({_destination(href)}{_title(node)})"
    if kind == "image":
        src = str(node.attrs.get("src", ""))
        if not is_allowed_link(src, IMAGE_SCHEMES):
            return inner
        return f"![{inner}]({_destination(src)}{_title(node)})"
    return inner


def _plain(node: SyntaxTreeNode) -> str:
    return "".join(child.content for child in node.children if child.type == "text")


def _escape(text: str) -> str:
    text = _ALWAYS_ESCAPED.sub(r"\\\1", text)
    text = _ENTITY_AMPERSAND.sub(r"\\&", text)
    return _WORD_COLON.sub(r"\\:", text)


def _escape_line_starts(text: str) -> str:
    """Escape what would begin a list item or a heading underline at the start of a line of text."""

    def escape(match: re.Match[str]) -> str:
        spaces, digits, mark = match.groups()
        if mark in ".)" and not digits or mark in "-+=" and digits:
            return match.group(0)
        return f"{spaces}{digits}\\{mark}"

    return _LINE_START.sub(escape, text)


def _code_span(content: str) -> str:
    ticks = "`" * (_longest_run(content, "`") + 1)
    pad = " " if content.startswith(("`", " ")) or content.endswith(("`", " ")) else ""
    return f"{ticks}{pad}{content}{pad}{ticks}"


def _destination(url: str) -> str:
    # Pointy brackets allow any character but line breaks and unescaped < >; markdown-it already encoded spaces.
    cleaned = url.replace("\n", "").replace("\r", "")
    return "<" + re.sub(r"([\\<>])", r"\\\1", cleaned) + ">"


def _title(node: SyntaxTreeNode) -> str:
    title = node.attrs.get("title")
    if not title:
        return ""
    return ' "' + re.sub(r'([\\"])', r"\\\1", " ".join(str(title).split())) + '"'


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)
