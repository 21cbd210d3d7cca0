"""Draws a FormSpec as widgets and reads the answers back; shared by the public form and the builder preview.

Widget values live in st.session_state under `prefix`, so the drawing is a function of (schema, answers):
the same answers always give the same widgets, and a callback can read the answers before the page redraws.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from core.catalogue import CatalogueItem
from core.forms import ADDRESS_PARTS, FieldSpec, FieldType, FormSpec, visible_fields
from core.markup import escape_markdown, safe_markdown

_AUTOCOMPLETE = {FieldType.EMAIL: "email", FieldType.PHONE: "tel"}
# Stock at or below this is shown to attendees ("Only 3 left").
FEW_LEFT = 10


def read_answers(form: FormSpec, catalogue: Sequence[CatalogueItem], prefix: str) -> dict[str, Any]:
    """The current answers of every field, read from session state (hidden fields included; core drops them)."""
    state = st.session_state
    answers: dict[str, Any] = {}
    for spec in form.fields:
        key = f"{prefix}.{spec.key}"
        if spec.type == FieldType.ADDRESS:
            answers[spec.key] = {part: state.get(f"{key}.{part}") or "" for part in ADDRESS_PARTS}
        elif spec.type == FieldType.ITEMS:
            answers[spec.key] = _read_lines(catalogue, key)
        elif spec.type == FieldType.MULTIPLE_CHOICE:
            answers[spec.key] = list(state.get(key) or [])
        else:
            answers[spec.key] = state.get(key)
    return answers


def prefill_answers(form: FormSpec, prefix: str, answers: Mapping[str, Any]) -> None:
    """Put stored `answers` into the widgets of `form` drawn under `prefix` (say, to change an order), before the
    run that draws them; the inverse of `read_answers`."""
    state = st.session_state
    for key in [key for key in state if str(key).startswith(f"{prefix}.")]:
        del state[key]
    for spec in form.fields:
        key, value = f"{prefix}.{spec.key}", answers.get(spec.key)
        if value is None:
            continue
        if spec.type == FieldType.ADDRESS and isinstance(value, dict):
            for part, text in value.items():
                state[f"{key}.{part}"] = text
        elif spec.type == FieldType.ITEMS:
            _prefill_lines(key, value)
        elif spec.type == FieldType.DATE and isinstance(value, str):
            state[key] = datetime.date.fromisoformat(value)
        else:
            state[key] = value


def _prefill_lines(key: str, lines: list[dict[str, Any]]) -> None:
    state = st.session_state
    counts: dict[str, int] = {}
    for line in lines:
        index = counts.get(line["item"], 0)
        counts[line["item"]] = index + 1
        line_key = f"{key}.{line['item']}.{index}"
        for name, option in line["options"].items():
            state[f"{line_key}.{name}"] = option
        state[f"{line_key}.quantity"] = line["quantity"]
    for item_key, count in counts.items():
        if count > 1:
            state[f"{key}.{item_key}.lines"] = count


def render_form(form: FormSpec, catalogue: Sequence[CatalogueItem], prefix: str, errors: Mapping[str, str]) -> None:
    """Draw the visible fields with each error from `errors` right below the input it belongs to."""
    answers = read_answers(form, catalogue, prefix)
    for spec in visible_fields(form, answers):
        key = f"{prefix}.{spec.key}"
        if spec.type == FieldType.ADDRESS:
            _address(spec, key, errors)
        elif spec.type == FieldType.ITEMS:
            _items(spec, catalogue, key, errors)
        else:
            _simple_field(spec, key)
        _error(errors, spec.key)
    st.caption("Fields marked * are required.")


# Streamlit reads Markdown in labels, help texts, captions and radio options: whatever the organiser wrote goes
# through core/markup.py, so that no link but http(s), mailto or a relative one is ever live.
def _label(spec: FieldSpec) -> str:
    label = safe_markdown(spec.label)
    return f"{label} *" if spec.required else label


def _group_heading(spec: FieldSpec) -> None:
    """The heading of a field made of several inputs (an address, the item picker)."""
    st.markdown(f"**{escape_markdown(spec.label)}**" + (" \\*" if spec.required else ""))
    if spec.help:
        st.caption(safe_markdown(spec.help))


def _simple_field(spec: FieldSpec, key: str) -> None:
    label, help_text = _label(spec), safe_markdown(spec.help) or None
    match spec.type:
        case FieldType.SHORT_TEXT | FieldType.EMAIL | FieldType.PHONE:
            st.text_input(label, key=key, help=help_text, max_chars=spec.max_length,
                          autocomplete=_AUTOCOMPLETE.get(spec.type))
        case FieldType.LONG_TEXT:
            st.text_area(label, key=key, help=help_text, max_chars=spec.max_length)
        case FieldType.NUMBER:
            whole = spec.decimals == 0
            st.number_input(
                label, key=key, help=help_text, value=None, step=1 if whole else 10 ** -spec.decimals,
                min_value=_number(spec.min_value, whole), max_value=_number(spec.max_value, whole),
                format=None if whole else f"%.{spec.decimals}f",
            )
        case FieldType.SINGLE_CHOICE:
            if len(spec.options) <= 4:
                st.radio(label, spec.options, key=key, help=help_text, index=None, horizontal=True,
                         format_func=safe_markdown)
            else:
                st.selectbox(label, spec.options, key=key, help=help_text, index=None, placeholder="Choose one")
        case FieldType.MULTIPLE_CHOICE:
            st.multiselect(label, spec.options, key=key, help=help_text, placeholder="Choose any")
        case FieldType.CHECKBOX:
            st.checkbox(label, key=key, help=help_text)
        case FieldType.DATE:
            st.date_input(label, key=key, help=help_text, value=None, min_value=spec.min_date,
                          max_value=spec.max_date, format="YYYY-MM-DD")


def _number(value: float | None, whole: bool) -> float | int | None:
    if value is None:
        return None
    return int(value) if whole else float(value)


def _address(spec: FieldSpec, key: str, errors: Mapping[str, str]) -> None:
    _group_heading(spec)
    for part, (label, longest) in ADDRESS_PARTS.items():
        part_key = f"{key}.{part}"
        if part == "country" and spec.options:
            if len(spec.options) == 1:
                st.session_state.setdefault(part_key, spec.options[0])
            st.selectbox(label, spec.options, key=part_key, index=None, placeholder="Choose a country")
        else:
            st.text_input(label, key=part_key, max_chars=longest,
                          autocomplete={"street": "street-address", "city": "address-level2",
                                        "postcode": "postal-code", "country": "country-name"}[part])
        _error(errors, f"{spec.key}.{part}")


def _items(spec: FieldSpec, catalogue: Sequence[CatalogueItem], key: str, errors: Mapping[str, str]) -> None:
    _group_heading(spec)
    if not catalogue:
        st.info("Nothing is on offer at the moment.")
    for item in catalogue:
        item_key = f"{key}.{item.key}"
        with st.container(border=True):
            price = f" · {item.price:.2f}" if item.price is not None else ""
            text, picture = st.columns([3, 1]) if item.image else (st.container(), None)
            text.markdown(f"**{escape_markdown(item.name)}**{price}")
            if item.description:
                text.caption(safe_markdown(item.description))
            if picture is not None:
                picture.image(item.image, caption=None, width="stretch")
            offered = [variant for variant in item.variants if variant.available]
            if offered and all(variant.sold_out for variant in offered):
                text.markdown(":red-badge[Sold out]")
                _error(errors, f"{spec.key}.{item.key}")
                continue
            if note := stock_note(item):
                text.caption(note)
            for index in range(_line_count(item_key)):
                _item_line(item, f"{item_key}.{index}", index + 1)
            if item.dimensions and _line_count(item_key) < item.max_per_order:
                st.button(f"Add another {escape_markdown(item.name)}", key=f"{item_key}.add", on_click=_add_line,
                          args=(item_key,), icon=":material/add:", type="tertiary")
            _error(errors, f"{spec.key}.{item.key}")


def stock_note(item: CatalogueItem) -> str:
    """What the attendee should know about the item's stock: sold-out variants, and few left ("Only 3 left")."""
    offered = [variant for variant in item.variants if variant.available]
    if not item.dimensions:
        left = offered[0].remaining if offered else None
        return f"Only {left} left." if left is not None and 0 < left <= FEW_LEFT else ""
    sold_out = [variant.label for variant in offered if variant.sold_out]
    few = [f"{variant.label} ({variant.remaining})" for variant in offered
           if variant.remaining is not None and 0 < variant.remaining <= FEW_LEFT]
    notes = ([f"Sold out: {'; '.join(sold_out)}."] if sold_out else []) + (
        [f"Only a few left: {'; '.join(few)}."] if few else [])
    return " ".join(notes)


def _item_line(item: CatalogueItem, line_key: str, number: int) -> None:
    # Labels name the item ("Hoodie size"), so that each input makes sense on its own to a screen reader.
    suffix = f" ({number})" if number > 1 else ""
    name = escape_markdown(item.name)
    columns = st.columns([2] * len(item.dimensions) + [1.4])
    for column, dimension in zip(columns, item.dimensions, strict=False):
        column.selectbox(f"{name} {escape_markdown(dimension.label.lower())}{suffix}", dimension.options,
                         key=f"{line_key}.{dimension.name}", index=None, placeholder="Choose")
    columns[-1].number_input(f"{name} quantity{suffix}", key=f"{line_key}.quantity", min_value=0,
                             max_value=item.max_per_order, value=0, step=1,
                             help=f"At most {item.max_per_order} per order")


def _line_count(item_key: str) -> int:
    return st.session_state.get(f"{item_key}.lines", 1)


def _add_line(item_key: str) -> None:
    st.session_state[f"{item_key}.lines"] = _line_count(item_key) + 1


def _read_lines(catalogue: Sequence[CatalogueItem], key: str) -> list[dict[str, Any]]:
    state = st.session_state
    lines = []
    for item in catalogue:
        item_key = f"{key}.{item.key}"
        for index in range(_line_count(item_key)):
            line_key = f"{item_key}.{index}"
            quantity = state.get(f"{line_key}.quantity") or 0
            if quantity:
                options = {d.name: state.get(f"{line_key}.{d.name}") for d in item.dimensions}
                lines.append({"item": item.key, "options": options, "quantity": int(quantity)})
    return lines


def _error(errors: Mapping[str, str], key: str) -> None:
    if key in errors:
        st.error(errors[key], icon=":material/error:")
