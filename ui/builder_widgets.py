"""The form builder's look: icons of field types and templates, icon buttons, badges, Markdown made plain."""

from __future__ import annotations

import re
from collections.abc import Callable

import streamlit as st

from core.form_builder import FieldRow
from core.form_drafts import Draft
from core.forms import FieldType

TYPE_ICONS = {
    FieldType.SHORT_TEXT: ":material/short_text:",
    FieldType.LONG_TEXT: ":material/notes:",
    FieldType.EMAIL: ":material/mail:",
    FieldType.PHONE: ":material/call:",
    FieldType.NUMBER: ":material/pin:",
    FieldType.SINGLE_CHOICE: ":material/radio_button_checked:",
    FieldType.MULTIPLE_CHOICE: ":material/checklist:",
    FieldType.CHECKBOX: ":material/check_box:",
    FieldType.DATE: ":material/calendar_month:",
    FieldType.ADDRESS: ":material/home:",
    FieldType.ITEMS: ":material/shopping_cart:",
}
UNKNOWN_ICON = ":material/help:"
TEMPLATE_ICONS = {
    "full_name": ":material/badge:",
    "email": ":material/mail:",
    "phone": ":material/call:",
    "delivery_address": ":material/local_shipping:",
    "consent": ":material/verified_user:",
    "choice": ":material/radio_button_checked:",
    "free_text": ":material/notes:",
}
# Icon buttons: their label names them for screen readers ("Move 'Email' up") but only the icon shows. A field's
# button in the list reads like a line of text, so it starts at the left even when its label wraps.
BUILDER_CSS = """<style>
div[class*="st-key-fb-icon-"] [data-testid="stMarkdownContainer"] {
  position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
}
div[class*="st-key-fb-open-"] button { justify-content: flex-start; text-align: left; }
div[class*="st-key-fb-open-"] button p { text-align: left; }
</style>"""
_MARKDOWN_SPECIAL = r"([\\`*_{}\[\]()#+\-.!|~<>$:])"


def icon_button(label: str, icon: str, name: str, disabled: bool, action: Callable[[], None]) -> None:
    # The key's prefix is what BUILDER_CSS hides the label by.
    st.button(plain(label), icon=icon, key=f"fb-icon-{name}", disabled=disabled, on_click=action, type="tertiary",
              help=plain(label))


def badges(row: FieldRow) -> str:
    parts = []
    if row.required:
        parts.append(":blue-badge[Required]")
    if row.personal:
        parts.append(":orange-badge[Personal]")
    if row.shown_if:
        parts.append(f":violet-badge[{plain(row.shown_if)}]")
    if row.problem:
        parts.append(f":red-badge[Needs fixing: {plain(row.problem)}]")
    return " ".join(parts)


def version_note(draft: Draft) -> str:
    if draft.saved_number is None:
        return "This event has no form yet: add fields, then save. Attendees see the form once it is saved."
    if draft.saved_in_use:
        return (f"Version {draft.saved_number}. Orders were placed with it, so saving creates version "
                f"{draft.saved_number + 1}; those orders keep theirs.")
    return f"Version {draft.saved_number}. No orders use it yet, so saving changes it in place."


def plain(text: str) -> str:
    """`text` for Markdown, shown as typed (no links, emphasis or icons made of an organiser's label)."""
    return re.sub(_MARKDOWN_SPECIAL, r"\\\1", text)
