"""Shared UI pieces for the screens in pages/: runtime, the form renderer, widgets and the two page helpers."""
