"""The worked examples in the core modules' docstrings are run, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import chatbot


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(chatbot.__path__, "chatbot."):
        if info.name.startswith("chatbot.ui") or info.name.startswith("chatbot.migrations"):
            continue  # Streamlit pages run on import; migrations are run by Alembic
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and ">>> " in open(spec.origin, encoding="utf-8").read():
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
