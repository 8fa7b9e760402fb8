"""The README's settings table and module map stay in step with the code."""

from __future__ import annotations

from chatbot.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"`CHATBOT_{name.upper()}`" not in README]
    assert missing == []


def test_every_core_module_is_in_the_module_map():
    """Every module of chatbot/ and of chatbot/rag/ and chatbot/llm/ by path; the other packages by name."""
    modules = [p for folder in ("", "rag", "llm") for p in (ROOT / "chatbot" / folder).glob("*.py")
               if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if str(p.relative_to(ROOT)) not in README]
    packages = [p.parent.name for p in (ROOT / "chatbot").glob("*/__init__.py")]
    missing += [name for name in packages if f"chatbot/{name}/" not in README]
    assert missing == []
