"""What a purge would destroy, what one did, and every purge's receipt, as the Purge data page shows them."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.auth import Actor
from core.purge import PlanLine, PurgePlan, PurgeReceiptView, list_purge_receipts
from core.wording import counted
from ui import feedback


def show_dry_run(plan: PurgePlan) -> None:
    st.subheader("What would be destroyed now")
    if plan.automatic_at is None:
        st.info("This event has neither an end nor a closing time, so it is never purged automatically.",
                icon=":material/schedule:")
    else:
        st.info(f"Purged automatically on {plan.automatic_at:%d %b %Y, %H:%M} UTC (the end of the event, or the "
                "close of orders, plus the days personal data is kept).", icon=":material/schedule:")
    _counts_table(plan.lines)
    st.caption(f"Kept: {counted(plan.orders_kept, 'order')} and {counted(plan.order_lines_kept, 'order line')} "
               "(reference, status, "
               "times, items, variants, quantities, prices), the status history without tracking, and the audit "
               "trail.")


def show_receipt(receipt: PurgeReceiptView) -> None:
    st.success(f"The personal data of this event was destroyed on {receipt.at:%d %b %Y, %H:%M} UTC by {receipt.by} "
               f"(receipt {receipt.id}).", icon=":material/verified_user:")
    st.caption(receipt.backup_note)
    _counts_table(receipt.lines)


def _counts_table(lines: Sequence[PlanLine]) -> None:
    st.dataframe([{"What": line.label, "Records": line.count} for line in lines], hide_index=True, width="stretch")


def show_past_receipts(actor: Actor) -> None:
    receipts = feedback.read(lambda session: list_purge_receipts(session, actor))
    if receipts is None:
        return
    st.subheader("Purge receipts")
    if not receipts:
        st.caption("No event of yours has been purged yet.")
        return
    st.dataframe([{"Event": r.event_title, "When (UTC)": r.at, "By": r.actor, "Records destroyed": r.total,
                   "Still in backups until": r.backups_until} for r in receipts], hide_index=True, width="stretch")
    st.caption("A purge cannot reach into backups made before it: they hold the data until they age out.")
