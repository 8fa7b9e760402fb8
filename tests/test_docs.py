"""The docs stay in step with the code: the module map of docs/architecture.md names every module, and the
links of the README and the docs pages point at files that exist. (The settings page is checked by
tests/test_settings_doc.py.)"""

from __future__ import annotations

import re

from tests.conftest import ROOT

ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_every_core_module_is_in_the_module_map():
    """Every module of chatbot/ and of chatbot/rag/ and chatbot/llm/ by path; the other packages by name."""
    modules = [p for folder in ("", "rag", "llm") for p in (ROOT / "chatbot" / folder).glob("*.py")
               if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if str(p.relative_to(ROOT)) not in ARCHITECTURE]
    packages = [p.parent.name for p in (ROOT / "chatbot").glob("*/__init__.py")]
    missing += [name for name in packages if f"chatbot/{name}/" not in ARCHITECTURE]
    assert missing == [], "add these to docs/architecture.md's module map"


def broken_links(page) -> list[str]:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    return [f"{page.name}: {t}" for t in targets if "://" not in t and not (page.parent / t).exists()]


def test_readme_is_short_and_its_links_resolve():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    assert broken_links(ROOT / "README.md") == []


def test_links_between_the_docs_pages_resolve():
    assert [link for page in sorted((ROOT / "docs").glob("*.md")) for link in broken_links(page)] == []
