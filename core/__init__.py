"""Event Orders domain: everything that is a rule lives here; nothing here imports streamlit."""
