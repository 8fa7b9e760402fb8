"""The README's settings table and module map stay in step with the code."""

from __future__ import annotations

from chatbot.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"`CHATBOT_{name.upper()}`" not in README]
    assert missing == []


def test_every_core_module_is_in_the_module_map():
    modules = [p for p in (ROOT / "chatbot").glob("*.py") if p.name != "__init__.py"]
    missing = [p.name for p in modules if f"chatbot/{p.name}" not in README]
    assert missing == []
