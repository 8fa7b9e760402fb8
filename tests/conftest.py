"""Shared fixtures; every test gets its own CHATBOT_HOME.

Two tiers. The fast one (`make test-fast`, `-m "not slow"`) runs on deterministic fake models
(tests/fakes.py: `fake_service`, `echo_model`, `hashed_embeddings`) and on the real embedding model with
real Chroma. A test that takes a real chat model (`service`, `small_chat_model` or another fixture in
`REAL_CHAT_MODEL_FIXTURES`) is marked slow here; a test that loads one otherwise (an app page, a
subprocess, training) is marked `@pytest.mark.slow` in its file. `make test` runs both."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.config import PACKAGED_SMALL_CHAT, Settings
from tests.fakes import EchoChatModel, HashedEmbeddings

ROOT = Path(__file__).resolve().parent.parent
# Converted models are cached across test runs (the first conversion of SmolLM2 takes ~30 s).
MODEL_CACHE = Path(os.environ.get("CHATBOT_TEST_MODEL_CACHE", ROOT / ".venv" / "test-model-cache"))


# Fixtures that load a real chat model (here or in a test file): a test using one is marked slow.
REAL_CHAT_MODEL_FIXTURES = {"service", "small_chat_model", "tiny_model", "backend_model", "tuned", "ft_settings",
                            "sample_kb_service"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_CHAT_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def make_settings(home: Path, **overrides) -> Settings:
    """Settings for a test: its own home and model registry, with the converted small packaged model
    linked in from a cache shared by all tests (so it is converted once, not per test)."""
    from chatbot.llm.files import resolve_chat_model

    converted = Path(resolve_chat_model(PACKAGED_SMALL_CHAT, MODEL_CACHE))
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for entry in (converted, MODEL_CACHE / ".verified"):
        if entry.exists() and not (models / entry.name).exists():
            (models / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    # the answer checks (chatbot/rag/verify.py) are off and answers are shown in the model's own words: tests of
    # wiring script the model's exact reply, and the 135M test model writes little a document states; the tests
    # of the checks (tests/test_verify.py) turn them on
    values = {"home": home, "chat_model": PACKAGED_SMALL_CHAT, "max_new_tokens": 32,
              "kb_dir": home / "no-sample-kb", "verify_answers": False, "answer_style": "free"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def embeddings():
    from chatbot.llm.factory import make_embeddings

    return make_embeddings(Settings())


@pytest.fixture(scope="session")
def small_chat_model(tmp_path_factory):
    from chatbot.llm.factory import make_chat_model

    return make_chat_model(make_settings(tmp_path_factory.mktemp("model-home")))


@pytest.fixture
def service(settings, embeddings, small_chat_model):
    from chatbot.service import make_service

    return make_service(settings, chat_model=small_chat_model, embeddings=embeddings)


@pytest.fixture
def echo_model() -> EchoChatModel:
    return EchoChatModel()


@pytest.fixture(scope="session")
def hashed_embeddings() -> HashedEmbeddings:
    return HashedEmbeddings()


@pytest.fixture
def fake_service(settings, echo_model, hashed_embeddings):
    """A service on fake models (tests/fakes.py) with real Chroma and SQLite: for wiring tests."""
    from chatbot.service import make_service

    return make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)


@pytest.fixture
def store_service(settings, embeddings):
    """A service for ingestion and retrieval tests: real Chroma and embeddings, no chat model loaded."""
    from chatbot.service import make_service

    return make_service(settings, embeddings=embeddings)


@contextlib.contextmanager
def app_environment(tmp_path: Path, monkeypatch, docs: dict[str, bytes], max_new_tokens: int = 32,
                    prepare=None, admin_open: bool = True) -> Iterator[Settings]:
    """A fresh home whose sample KB holds `docs`, configured through CHATBOT_* variables like production,
    with Streamlit's resource cache cleared before and after (the app's service is cached per process).
    `prepare(settings)` runs before the app starts (e.g. to register a model). `admin_open`: the admin pages
    are open (CHATBOT_ADMIN_OPEN; a set CHATBOT_ADMIN_PASSWORD still wins); false is production's default,
    a generated password (chatbot/admin.py)."""
    import streamlit as st

    kb = tmp_path / "kb"
    kb.mkdir()
    for name, data in docs.items():
        (kb / name).write_bytes(data)
    settings = make_settings(tmp_path / "home", kb_dir=kb, max_new_tokens=max_new_tokens)
    if prepare is not None:
        prepare(settings)
    for key, value in {"HOME": settings.home, "KB_DIR": kb, "CHAT_MODEL": settings.chat_model,
                       "MAX_NEW_TOKENS": max_new_tokens, "VERIFY_ANSWERS": settings.verify_answers,
                       "ANSWER_STYLE": settings.answer_style, "ADMIN_OPEN": admin_open}.items():
        monkeypatch.setenv(f"CHATBOT_{key}", str(value))
    st.cache_resource.clear()
    try:
        yield settings
    finally:
        st.cache_resource.clear()
