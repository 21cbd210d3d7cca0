"""Items and variants: what an event offers, adding and editing items, switching single variants on or off,
their stock, and stock shared by several items."""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core import catalogue_admin
from core.auth import Actor
from core.catalogue_admin import ItemForEdit, PoolForEdit, VariantEdit
from core.event_admin import EventSummary
from ui import feedback, fresh, runtime

# Every successful change starts a new generation of the forms and tables, drawn afresh from the database.
SCOPE = "catalogue"
DIMENSIONS_PLACEHOLDER = "Size: S, M, L, XL\nColour: Black, Forest green"
NO_POOL = "Only its own stock"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Items")
    st.caption(event.title)
    overview = feedback.read(lambda session: catalogue_admin.catalogue_overview(session, actor, event.id))
    if overview is None:
        return
    fresh.show_notice(SCOPE)
    generation = fresh.generation(SCOPE)
    if overview.items:
        st.dataframe([_summary(item) for item in overview.items], hide_index=True)
        by_key = {item.key: item for item in overview.items}
        chosen = by_key[st.selectbox("Item to edit", list(by_key), format_func=lambda key: by_key[key].name,
                                     key=f"catalogue.chosen.{event.id}")]
        _item_form(actor, event, generation, chosen)
        _picture(actor, event, chosen, generation)
        _item_pool(actor, event, chosen, overview.pools)
        _variant_table(actor, event, chosen)
    else:
        st.info("This event offers nothing yet. Add the first item below.", icon=":material/inventory_2:")
    _item_form(actor, event, generation)
    _pools(actor, event, overview.pools, generation)


def _summary(item: ItemForEdit) -> dict[str, object]:
    offered = sum(variant.active for variant in item.variants)
    return {"Key": item.key, "Name": item.name, "Price": "" if item.price is None else f"{item.price:.2f}",
            "Max per order": item.max_per_order, "Active": item.active,
            "Dimensions": " × ".join(d.label for d in item.dimensions) or "—",
            "Variants on": f"{offered} of {len(item.variants)}", "Shared stock": item.pool or "—"}


def _item_form(actor: Actor, event: EventSummary, generation: int, item: ItemForEdit | None = None) -> None:
    """Edit `item`, or add a new one; an error shows beside its input."""
    st.subheader(f"Edit {item.name}" if item else "Add an item")
    # The event is part of the key: items of two events may share a key, and their inputs must not.
    form = f"catalogue.edit.{event.id}.{item.key}.{generation}" if item else f"catalogue.add.{event.id}.{generation}"
    slots: dict[str, DeltaGenerator] = {}

    def beside(field: str, value: object) -> object:
        slots[field] = st.empty()
        return value

    with st.form(form):
        if item is None:
            key = beside("key", st.text_input("Key", max_chars=40, key=f"{form}.key", help=(
                "A short name for exports and show-if: lower-case letters, digits and _, e.g. tshirt.")))
        name = beside("name", st.text_input("Name", value=item.name if item else "", max_chars=200,
                                            placeholder=None if item else "T-shirt", key=f"{form}.name"))
        description = beside("description", st.text_area("Description", value=item.description if item else "",
                                                          key=f"{form}.description"))
        price = beside("price", st.text_input(
            "Price", value="" if item is None or item.price is None else f"{item.price:.2f}",
            placeholder=None if item else "15.00",
            help="Leave empty when there is nothing to pay.", key=f"{form}.price"))
        max_per_order = beside("max_per_order", st.number_input(
            "Max per order", min_value=1, max_value=catalogue_admin.MAX_PER_ORDER,
            value=item.max_per_order if item else 10, step=1, key=f"{form}.max_per_order"))
        if item is not None:
            position = beside("position", st.number_input(
                "Position", min_value=0, max_value=catalogue_admin.MAX_POSITION, value=item.position, step=1,
                help="Items are offered in this order.", key=f"{form}.position"))
            active = beside("active", st.checkbox("Offered", value=item.active, key=f"{form}.active",
                                                  help="Untick to stop offering the whole item."))
        dimensions = beside("dimensions", st.text_area(
            "Dimensions", value=item.dimension_lines if item else "", placeholder=DIMENSIONS_PLACEHOLDER,
            key=f"{form}.dimensions",
            help="One per line: a name, a colon, the options. " + (
                "Removed options switch their variants off; orders keep what they ordered." if item else
                "Leave empty for an item that comes in one kind only.")))
        if item is not None and st.form_submit_button("Save changes", type="primary"):
            changes = {"name": name, "description": description, "price": price, "max_per_order": max_per_order,
                       "position": position, "active": active, "dimensions": dimensions}
            _saved_item(slots, lambda session: catalogue_admin.update_item(session, actor, event.id, item.key,
                                                                           changes), f"Saved {name.strip() or item.name}.")
        if item is None and st.form_submit_button("Add item", type="primary"):
            _saved_item(slots, lambda session: catalogue_admin.create_item_for(
                session, actor, event.id, key=key, name=name, description=description, price=price,
                max_per_order=int(max_per_order), dimensions=dimensions), f"Added {name.strip()}.")


def _saved_item(slots: dict[str, DeltaGenerator], change, done: str) -> None:  # noqa: ANN001 - session -> item
    """Run one change of an item; show each error beside its input, or refresh the page on success."""
    item = feedback.apply(change, slots)
    if item is not None:
        offered = sum(variant.active for variant in item.variants)
        fresh.refresh(SCOPE, f"{done} {offered} of {len(item.variants)} variants are offered.")


def _picture(actor: Actor, event: EventSummary, item: ItemForEdit, generation: int) -> None:
    """Upload or remove the item's picture; core re-encodes it without metadata."""
    st.markdown(f"**Picture of {item.name}**")
    st.caption("Shown beside the item on the order form." if item.has_image else "No picture yet.")
    upload = st.file_uploader("Upload a picture", type=["png", "jpg", "jpeg", "webp", "gif"],
                              key=f"catalogue.picture.{event.id}.{item.key}.{generation}",
                              help="PNG, JPEG, WebP or GIF up to 5 MB; scaled to at most 800 pixels.")
    remove = item.has_image and st.button("Remove the picture", key=f"catalogue.picture.remove.{item.key}")
    if (upload is not None or remove) and feedback.apply(lambda session: catalogue_admin.set_item_image(
            session, actor, event.id, item.key, None if remove else upload.getvalue())):
        fresh.refresh(SCOPE, f"Picture of {item.name} {'removed' if remove else 'saved'}.")  # a fresh uploader


def _variant_table(actor: Actor, event: EventSummary, item: ItemForEdit) -> None:
    """Each variant: offered or not, its stock (empty: no limit), what is sold and left."""
    st.markdown(f"**Variants and stock of {item.name}**")
    # The key follows the stored values, so that after a change the editor starts afresh from the database.
    states = "".join(f"{v.key}={v.active},{v.stock},{v.sold};" for v in item.variants)
    state = hashlib.sha1(f"{event.id}:{item.key}:{states}".encode()).hexdigest()[:12]
    edited = st.data_editor(
        [{"Variant": variant.label or item.name, "Offered": variant.active, "Stock": variant.stock,
          "Sold": variant.sold, "Left": variant.remaining} for variant in item.variants],
        key=f"catalogue.variants.{item.key}.{state}", hide_index=True, disabled=["Variant", "Sold", "Left"],
        column_config={
            "Offered": st.column_config.CheckboxColumn("Offered", help="Untick to stop offering it."),
            "Stock": st.column_config.NumberColumn("Stock", min_value=0, max_value=catalogue_admin.MAX_STOCK, step=1,
                                                   help="How many can be sold in all; empty means no limit."),
            "Left": st.column_config.NumberColumn("Left", help="Empty: no limit of its own."),
        },
    )
    wanted = [VariantEdit(variant.key, bool(row["Offered"]),
                          None if row["Stock"] is None or row["Stock"] != row["Stock"] else int(row["Stock"]))  # NaN
              for variant, row in zip(item.variants, edited, strict=True)]
    if wanted == [VariantEdit(v.key, v.active, v.stock) for v in item.variants]:
        return
    changes = feedback.apply(lambda session: catalogue_admin.edit_variants(session, actor, event.id, item.key,
                                                                           wanted))
    if changes:
        fresh.refresh(SCOPE, "; ".join(changes) + ".", renew=False)


def _item_pool(actor: Actor, event: EventSummary, item: ItemForEdit, pools: list[PoolForEdit]) -> None:
    """Which shared stock the item draws on, if any."""
    if not pools:
        return
    names = [NO_POOL] + [pool.name for pool in pools]
    chosen = st.selectbox(f"Shared stock {item.name} draws on", names,
                          index=names.index(item.pool) if item.pool in names else 0,
                          key=f"catalogue.pool.{event.id}.{item.key}.{item.pool}")
    wanted = None if chosen == NO_POOL else chosen
    if wanted != item.pool and feedback.apply(lambda session: catalogue_admin.set_item_pool(
            session, actor, event.id, item.key, wanted)) is not None:
        fresh.refresh(SCOPE, f"{item.name} draws on {chosen.lower() if wanted is None else chosen}.", renew=False)


def _pools(actor: Actor, event: EventSummary, pools: list[PoolForEdit], generation: int) -> None:
    """Shared stocks ("200 t-shirts whatever the size"): the list, and a form to add, resize or remove one."""
    st.subheader("Shared stock")
    st.caption("A number of units shared by several variants or items, on top of each variant's own stock.")
    if pools:
        st.dataframe([{"Name": pool.name, "Capacity": pool.capacity, "Sold": pool.sold, "Left": pool.remaining,
                       "Items": ", ".join(pool.item_keys) or "—"} for pool in pools], hide_index=True)
    form = f"catalogue.pools.{event.id}.{generation}"
    with st.form(form):
        name = st.text_input("Name", max_chars=200, placeholder="T-shirts", key=f"{form}.name",
                             help="The name of an existing shared stock changes its capacity.")
        slots = {"name": st.empty()}
        capacity = st.number_input("Capacity", min_value=0, max_value=catalogue_admin.MAX_STOCK, value=100, step=1,
                                   key=f"{form}.capacity")
        slots["capacity"] = st.empty()
        save, remove = st.columns(2)
        existing = name.strip() if name.strip() in {pool.name for pool in pools} else None
        if save.form_submit_button("Save shared stock", type="primary") and feedback.apply(
                lambda session: catalogue_admin.save_pool(session, actor, event.id, name=name,
                                                          capacity=int(capacity), old_name=existing), slots):
            fresh.refresh(SCOPE, f"Saved the shared stock {name.strip()}.")
        if remove.form_submit_button("Remove shared stock") and feedback.apply(
                lambda session: catalogue_admin.delete_pool(session, actor, event.id, name.strip()), slots):
            fresh.refresh(SCOPE, f"Removed the shared stock {name.strip()}.")
