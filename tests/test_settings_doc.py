"""docs/settings.md is generated from the `Settings` fields (docs/make_settings.py) and must match them."""

from __future__ import annotations

import importlib.util

from chatbot.config import Settings
from tests.conftest import ROOT


def load_generator():
    spec = importlib.util.spec_from_file_location("make_settings", ROOT / "docs" / "make_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_page_is_up_to_date():
    generator = load_generator()
    page = ROOT / "docs" / "settings.md"
    current = page.read_text() if page.exists() else ""
    assert current == generator.render(), (
        "docs/settings.md differs from chatbot/config.py's Settings: run "
        "`.venv/bin/python docs/make_settings.py` and commit docs/settings.md")


def test_every_setting_has_a_row_and_a_description():
    text = load_generator().render()
    assert [name for name in Settings.model_fields if f"| `CHATBOT_{name.upper()}` |" not in text] == []
    assert [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()] == []


def test_secrets_are_never_shown():
    text = load_generator().render()
    secrets = [field.default.get_secret_value() for field in Settings.model_fields.values()
               if hasattr(field.default, "get_secret_value")]
    assert secrets and all(f"`{value}`" not in text for value in secrets)
