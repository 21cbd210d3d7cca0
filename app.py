"""Event Orders: wires settings, the database and the pages together; every rule lives in core/."""

import streamlit as st

from pages import public, runtime


def main() -> None:
    st.set_page_config(page_title="Event Orders", page_icon=":material/receipt_long:", layout="centered")
    runtime.engine()  # migrate before the first page touches the database
    page = st.navigation([st.Page(public.render, title="Order form", url_path="order", default=True)],
                         position="hidden")
    page.run()


main()
