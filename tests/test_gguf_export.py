"""Fine-tuned models on llama.cpp: a registered SmolLM2-135M whose attention weights were changed (as
training would) is exported to GGUF against its base model's GGUF and gives transformers' answers.

The exact check uses F16 weights (lossless from the saved bf16); the default export's quantised weights
are checked for near-identical logits. Perturbing q/k (rather than training a few steps) keeps the
change large and deterministic, and exercises the q/k permutation llama GGUF files need."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from chatbot.config import PACKAGED_SMALL_CHAT, Settings
from chatbot.finetune import registry
from chatbot.finetune.registry import ModelRecord
from chatbot.rag.prompts import closed_book_messages
from tests.conftest import make_settings

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (`make setup` builds it)")

QUESTION = "How long does a refund take?"


def register(settings: Settings, name: str, base_model: str, perturb: float = 0.0) -> Path:
    """A fine-tuned model folder in the registry: the converted base SmolLM2 with noise added to every
    q/k projection (scaled to each tensor's spread), saved in bf16 like `chatbot finetune` saves."""
    import torch
    from safetensors.torch import load_file, save_file

    from chatbot.llm.files import resolve_chat_model

    base = Path(resolve_chat_model(PACKAGED_SMALL_CHAT, settings.models_dir))
    folder = registry.finetuned_dir(settings) / name
    folder.mkdir(parents=True)
    for entry in base.iterdir():
        if entry.is_file() and entry.name != "model.safetensors" and not entry.name.startswith("."):
            shutil.copy(entry, folder / entry.name)
    weights = load_file(str(base / "model.safetensors"))
    noise = torch.Generator().manual_seed(0)
    for key, value in weights.items():
        if perturb and key.endswith(("q_proj.weight", "k_proj.weight")):
            v = value.float()
            weights[key] = (v + perturb * v.std() * torch.randn(v.shape, generator=noise)).to(value.dtype)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    registry.write_record(ModelRecord(
        name=name, base_model=base_model, method="full", hyperparams={}, train_loss=None, val_loss=None,
        trained_at="2026-01-01T00:00:00+00:00", data_sha256="0" * 64, kb_version=0, duration_s=0.0,
        path=str(folder)), folder)
    return folder


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Settings, Path]:
    settings = make_settings(tmp_path_factory.mktemp("gguf-home"), max_new_tokens=24)
    return settings, register(settings, "tuned", PACKAGED_SMALL_CHAT, perturb=0.2)


@pytest.fixture(scope="module")
def on_transformers(tuned):
    """The same fine-tuned folder on the transformers backend (the reference), in float32: on a CPU with
    native bf16 the backend's auto dtype is bf16, whose rounding can flip a near-tie greedy token that the
    F16 export (computed in f32 by llama.cpp) does not."""
    from chatbot.llm.factory import make_chat_model
    from chatbot.llm.transformers import TransformersChatModel

    settings, folder = tuned
    model = make_chat_model(settings.model_copy(update={"chat_backend": "transformers", "chat_dtype": "float32"}),
                            model=str(folder))
    assert isinstance(model, TransformersChatModel)
    return model


def messages() -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in closed_book_messages(QUESTION)]


def test_export_gives_transformers_greedy_answer_and_the_weight_change(tuned, on_transformers,
                                                                      tmp_path: Path) -> None:
    from chatbot.llm.files import resolve_gguf
    from chatbot.llm.gguf_export import export_gguf
    from chatbot.llm.llamacpp import LlamaCppChatModel

    settings, folder = tuned
    template = resolve_gguf(PACKAGED_SMALL_CHAT, settings.models_dir)
    exact = export_gguf(folder, template, tmp_path / "f16.gguf", weight_type="F16")

    want = str(on_transformers.invoke(messages()).content)
    on_llamacpp = LlamaCppChatModel.load(exact, "tuned", settings)
    assert str(on_llamacpp.invoke(messages()).content) == want

    base = LlamaCppChatModel.load(template, PACKAGED_SMALL_CHAT, settings)
    assert str(base.invoke(messages()).content) != want, "the weight change does not show on llama.cpp"


def test_factory_exports_once_and_logits_match(tuned, on_transformers) -> None:
    import numpy as np
    import torch
    from llama_cpp import Llama

    from chatbot.llm.factory import make_chat_model
    from chatbot.llm.gguf_export import GGUF_FILE
    from chatbot.llm.llamacpp import LlamaCppChatModel

    settings, folder = tuned
    model = make_chat_model(settings, model=str(folder))  # backend auto: exported on first use
    assert isinstance(model, LlamaCppChatModel)
    exported = folder / GGUF_FILE
    assert exported.is_file() and not list(folder.glob("*.partial"))
    assert str(model.invoke(messages()).content).strip()
    stamp = exported.stat().st_mtime_ns
    make_chat_model(settings.model_copy(update={"chat_backend": "llamacpp"}), model=str(folder))
    assert exported.stat().st_mtime_ns == stamp, "the cached export was rewritten"

    # Quantised weights: the next-token choice agrees with transformers' at nearly every prompt position.
    hf = on_transformers
    ids = list(hf.tokenizer.apply_chat_template(closed_book_messages(QUESTION), add_generation_prompt=True,
                                                return_dict=True)["input_ids"])
    with torch.inference_mode():
        want = hf.hf_model(torch.tensor([ids])).logits[0].float().numpy()
    llm = Llama(model_path=str(exported), n_ctx=512, logits_all=True, verbose=False)
    llm.eval(ids)
    got = np.asarray(llm.scores[: len(ids)])
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.85
    assert np.corrcoef(got[-1], want[-1])[0, 1] > 0.99


def test_unexportable_models_stay_on_transformers(tuned, tmp_path: Path, caplog) -> None:
    import gguf

    from chatbot.llm.factory import make_chat_model
    from chatbot.llm.gguf_export import GGUF_FILE
    from chatbot.llm.transformers import TransformersChatModel

    settings, _ = tuned
    other = tmp_path / "other-arch.gguf"
    writer = gguf.GGUFWriter(str(other), "gpt2")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    for name, base in [("unknown-arch", str(other)), ("no-gguf-base", "some-org/some-hub-model")]:
        folder = register(settings, name, base)
        with caplog.at_level(logging.WARNING):
            model = make_chat_model(settings, model=str(folder))
        assert isinstance(model, TransformersChatModel)
        assert not (folder / GGUF_FILE).exists() and not list(folder.glob("*.partial"))
        assert f"Fine-tuned model {name} stays on transformers" in caplog.text
