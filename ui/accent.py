"""An event's accent colour on the page's primary buttons."""

from __future__ import annotations

import streamlit as st

from core.events import ACCENT_COLOUR, readable_text_colour

# Primary buttons (plain and form submit) in the event's accent colour; filled in by `apply_accent` only.
ACCENT_CSS = """<style>
[data-testid="stBaseButton-primary"], [data-testid="stBaseButton-primaryFormSubmit"] {{
  background-color: {accent}; border-color: {accent}; color: {text};
}}
[data-testid="stBaseButton-primary"]:hover, [data-testid="stBaseButton-primaryFormSubmit"]:hover {{
  background-color: {accent}; border-color: {accent}; color: {text}; filter: brightness(0.9);
}}
</style>"""


def apply_accent(colour: str) -> None:
    """Style the page in the event's colour; anything but #rrggbb (say, stored before validation) is ignored."""
    if ACCENT_COLOUR.fullmatch(colour):
        st.html(ACCENT_CSS.format(accent=colour, text=readable_text_colour(colour)))
