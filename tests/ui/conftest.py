"""The ui/ pieces run through AppTest with the page tests' settings."""

from tests.pages.conftest import page_env  # noqa: F401 - autouse: every test here gets the page settings
