"""Fine-tuning on the real packaged SmolLM2-135M for a couple of steps, the registry and the CLI.

The training test is about mechanics (weights change, the folder loads through the normal model
factory, the record round-trips), not quality: that is the evaluation harness's job."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest

from chatbot.cli import finetune as cli
from chatbot.config import PACKAGED_SMALL_CHAT, Settings
from chatbot.finetune import registry
from chatbot.finetune.registry import ModelRecord, RegistryError
from chatbot.types import Chunk
from tests.conftest import make_settings

TINY = {"batch_size": 2, "max_length": 96, "max_val_rows": 2, "val_fraction": 0.3, "learning_rate": 5e-4}
EVAL_QUESTION = "Is this an evaluation question?"


@pytest.fixture(scope="session")
def ft_settings(tmp_path_factory) -> Settings:
    """A home whose models/ is its own folder (fine-tuned models stay out of the shared model cache)
    with the converted SmolLM2 linked in from that cache."""
    from chatbot.llm.files import resolve_chat_model

    shared = make_settings(tmp_path_factory.mktemp("convert-home"))
    converted = Path(resolve_chat_model(PACKAGED_SMALL_CHAT, shared.models_dir))
    home = tmp_path_factory.mktemp("ft-home")
    (home / "models").mkdir()
    (home / "models" / converted.name).symlink_to(converted, target_is_directory=True)
    return Settings(home=home, chat_model=PACKAGED_SMALL_CHAT, max_new_tokens=12, kb_dir=home / "no-kb")


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    rows = [{"id": f"T{n}", "question": f"How long does refund number {n} take?",
             "answer": f"Refund {n} takes {n + 2} business days.", "category": "billing"} for n in range(10)]
    rows.append({"id": "E1", "question": EVAL_QUESTION, "answer": "It must never be trained on."})
    path = tmp_path / "tickets.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


CHUNKS = [Chunk("faq:x:0", "faq", 0, "FAQ > Plus?\nQ: What is Plus?\nA: Plus is our subscription.",
                "FAQ", "Plus?", "faq.csv")]


def _base_weights(settings: Settings) -> dict:
    from safetensors.torch import load_file

    from chatbot.llm.files import resolve_chat_model

    return load_file(str(Path(resolve_chat_model(PACKAGED_SMALL_CHAT, settings.models_dir)) /
                         "model.safetensors"))


def test_few_steps_train_save_load_and_register(ft_settings: Settings, tickets: Path, capsys) -> None:
    from safetensors.torch import load_file

    from chatbot.finetune.train import finetune
    from chatbot.llm.factory import make_chat_model
    from chatbot.rag.prompts import closed_book_messages

    calls: list[tuple[int, int, float]] = []
    record = finetune(ft_settings, tickets=tickets, chunks=CHUNKS, kb_version=7, name="tiny-run",
                      progress=lambda *a: calls.append(a), exclude={EVAL_QUESTION}, max_steps=2,
                      overrides=TINY)

    assert [c[:2] for c in calls] == [(1, 2), (2, 2)] and all(c[2] > 0 for c in calls)
    assert record.method == "full" and record.base_model == PACKAGED_SMALL_CHAT and record.kb_version == 7
    assert record.hyperparams["excluded_questions"] == 1 and record.hyperparams["steps"] == 2
    assert record.train_loss is not None and len(record.data_sha256) == 64
    assert [h["step"] for h in record.loss_history if "loss" in h] == [1, 2]
    assert record.hyperparams["val_rows"] > 0
    assert [h["step"] for h in record.loss_history if "val_loss" in h] == [0, 2]
    evaluations = {h["step"]: h["val_loss"] for h in record.loss_history if "val_loss" in h}
    best = min(evaluations, key=evaluations.get)  # the weights kept are those of the best evaluation
    assert record.figures["best_step"] == best and record.val_loss == evaluations[best]
    assert capsys.readouterr().out == "", "training must not print to stdout (the CLI's --json goes there)"

    folder = Path(record.path)
    assert folder == registry.finetuned_dir(ft_settings) / "tiny-run"
    assert {"config.json", "model.safetensors", "record.json"} <= {p.name for p in folder.iterdir()}
    tuned, base = load_file(str(folder / "model.safetensors")), _base_weights(ft_settings)
    assert set(tuned) == set(base)
    assert any(not tuned[k].equal(base[k]) for k in base), "no weight changed"

    assert registry.list_models(ft_settings) == [record]
    model = make_chat_model(ft_settings, model=str(folder))
    messages = [(m["role"], m["content"]) for m in closed_book_messages("How long does a refund take?")]
    assert str(model.invoke(messages).content).strip()

    registry.set_active(ft_settings, "tiny-run")
    assert registry.get_active(ft_settings) == record
    registry.delete_model(ft_settings, "tiny-run")
    assert registry.list_models(ft_settings) == [] and registry.get_active(ft_settings) is None


def test_a_preset_with_a_reader_trains_the_hybrid_arms_weights_apart(ft_settings: Settings, tickets: Path) -> None:
    """The RAG-prompt rows go to a second model in the folder's `reader/`, with its own record; the closed-book
    model never sees them, the hybrid arm loads the reader, and the steps of both runs are reported in turn."""
    from chatbot.finetune.train import Preset, finetune
    from chatbot.llm.factory import make_chat_model
    from chatbot.rag import prompts
    from chatbot.types import Source

    source = Source("faq", "FAQ", "Plus?", "faq.csv", "", 0.0, None, "faq:x:0")

    def raft(pairs):
        return [{"messages": prompts.rag_messages(p.question, [source], [CHUNKS[0].text])
                 + [{"role": "assistant", "content": p.answer + " [1]"}], "source": p.source, "kind": "raft"}
                for p in pairs]

    reader = Preset(base=PACKAGED_SMALL_CHAT, method="full", batch_size=1, max_length=256, max_steps=2,
                    learning_rate=5e-4, max_val_rows=1)
    calls: list[tuple[int, int, float]] = []
    record = finetune(ft_settings, tickets=tickets, chunks=CHUNKS, name="with-reader", max_steps=2, raft=raft,
                      progress=lambda *a: calls.append(a),
                      overrides={**TINY, "val_fraction": 0.0, "raft": True, "reader": reader})

    assert [c[:2] for c in calls] == [(1, 2), (2, 2), (3, 4), (4, 4)]
    folder = Path(record.path)
    assert record.arms == ["finetuned", "hybrid"] and record.weights_for("hybrid") == str(folder / "reader")
    assert record.weights_for("finetuned") == str(folder)
    assert record.figures["reader"]["train_rows"] == 1 and record.figures["train_rows"] == len(
        [line for line in tickets.read_text().splitlines() if line]) + 1  # tickets + the FAQ pair, no RAG rows
    assert record.hyperparams["reader"]["learning_rate"] == 5e-4
    reader_record = registry.read_record(folder / "reader")
    assert reader_record.arms == ["hybrid"] and reader_record.figures["steps"] == 2
    assert registry.list_models(ft_settings) == [record], "the reader is part of its model, not a model of its own"
    loaded = make_chat_model(ft_settings, model=record.weights_for("hybrid"))
    messages = prompts.rag_messages("What is Plus?", [source], [CHUNKS[0].text])
    assert str(loaded.invoke([(m["role"], m["content"]) for m in messages]).content).strip()
    registry.delete_model(ft_settings, "with-reader")
    assert not folder.exists()


def test_cancel_saves_nothing(ft_settings: Settings, tickets: Path) -> None:
    from chatbot.finetune.train import TrainingCancelled, finetune

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        finetune(ft_settings, tickets=tickets, name="cancelled", cancel=cancel, max_steps=2, overrides=TINY)
    root = registry.finetuned_dir(ft_settings)
    left = [p.name for p in root.iterdir()] if root.exists() else []
    assert not [n for n in left if "cancelled" in n]


def test_cancel_during_training_ends_after_the_current_step(ft_settings: Settings, tickets: Path) -> None:
    from chatbot.finetune.train import TrainingCancelled, finetune

    cancel = threading.Event()
    steps: list[int] = []

    def progress(step: int, total: int, loss: float) -> None:  # noqa: ARG001
        steps.append(step)
        cancel.set()

    with pytest.raises(TrainingCancelled):
        finetune(ft_settings, tickets=tickets, name="stopped", cancel=cancel, progress=progress, max_steps=5,
                 overrides={**TINY, "val_fraction": 0.0})
    assert steps == [1]
    assert not (registry.finetuned_dir(ft_settings) / "stopped").exists()


# --- registry and CLI without training ---------------------------------------------------------
def fake_record(settings: Settings, name: str, trained_at: str, kb_version: int = 1) -> ModelRecord:
    folder = registry.finetuned_dir(settings) / name
    folder.mkdir(parents=True)
    record = ModelRecord(name=name, base_model=PACKAGED_SMALL_CHAT, method="full",
                         hyperparams={"preset": "quick", "learning_rate": 1e-4}, train_loss=1.5, val_loss=1.7,
                         trained_at=trained_at, data_sha256="0" * 64, kb_version=kb_version, duration_s=3.0,
                         path=str(folder), loss_history=[{"step": 1, "loss": 2.0}])
    registry.write_record(record, folder)
    return record


class FakeStore:
    def changes_since(self, version: int) -> list[tuple[str, str]]:
        log = [(1, "refunds", "added"), (2, "shipping", "added"), (3, "refunds", "updated")]
        return list({doc: action for v, doc, action in log if v > version}.items())


def test_registry_round_trip_active_and_staleness(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    older = fake_record(settings, "older", "2025-01-01T00:00:00+00:00", kb_version=1)
    newer = fake_record(settings, "newer", "2025-02-01T00:00:00+00:00", kb_version=3)
    (registry.finetuned_dir(settings) / ".half-written.partial").mkdir()
    assert registry.list_models(settings) == [older, newer]
    assert registry.get_active(settings) is None
    registry.set_active(settings, "older")
    assert registry.get_active(settings) == older
    assert registry.staleness(older, FakeStore()) == (2, [("shipping", "added"), ("refunds", "updated")])
    assert registry.staleness(newer, FakeStore()) == (0, [])
    with pytest.raises(RegistryError):
        registry.get_model(settings, "missing")
    with pytest.raises(RegistryError):
        registry.set_active(settings, "../escape")
    registry.delete_model(settings, "older")
    assert registry.get_active(settings) is None and registry.list_models(settings) == [newer]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_models_list_use_delete(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path))
    record = fake_record(Settings(), "cli-model", "2025-03-01T00:00:00+00:00")

    args = _parse(["models", "list", "--json"])
    assert args.func(args) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{**record.summary(), "stale": False, "documents_changed": 0}]
    assert set(listed[0]) == {"name", "base_model", "method", "hyperparams", "train_loss", "val_loss",
                              "trained_at", "data_sha256", "kb_version", "duration_s", "arms", "figures",
                              "stale", "documents_changed"}

    args = _parse(["models", "use", "cli-model"])
    assert args.func(args) == 0 and registry.get_active(Settings()) == record
    args = _parse(["models", "delete", "nope"])
    assert args.func(args) == 1
    args = _parse(["models", "delete", "cli-model"])
    assert args.func(args) == 0 and registry.list_models(Settings()) == []
    args = _parse(["finetune", "--preset", "standard", "--max-steps", "5", "--name", "x"])
    assert (args.preset, args.max_steps, args.name, args.base) == ("standard", 5, "x", None)


@pytest.mark.slow
def test_lora_is_merged_into_plain_weights(ft_settings: Settings, tickets: Path) -> None:
    from safetensors.torch import load_file

    from chatbot.finetune.train import finetune

    record = finetune(ft_settings, tickets=tickets, name="tiny-lora", max_steps=2,
                      overrides={**TINY, "method": "lora", "lora_r": 4, "lora_alpha": 8})
    assert record.method == "lora" and record.hyperparams["lora_r"] == 4
    tuned, base = load_file(str(Path(record.path) / "model.safetensors")), _base_weights(ft_settings)
    assert set(tuned) == set(base), "LoRA adapters were not merged"
    assert any(not tuned[k].equal(base[k]) for k in base)
    registry.delete_model(ft_settings, "tiny-lora")


@pytest.mark.parametrize("lora", [False, True])
def test_answer_token_loss_equals_the_models_own_loss(ft_settings: Settings, lora: bool) -> None:
    """The loss that skips the prompt's logits is the model's causal-LM loss, with and without LoRA, and its
    gradients reach the trained weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from chatbot.finetune.train import answer_token_loss, collate, tokenize_row
    from chatbot.llm.files import resolve_chat_model

    path = str(resolve_chat_model(PACKAGED_SMALL_CHAT, ft_settings.models_dir))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    rows = [[{"role": "user", "content": "How long do refunds take?"},
             {"role": "assistant", "content": "Refunds take 5 business days."}],
            [{"role": "system", "content": "Answer from the excerpts."},
             {"role": "user", "content": "Excerpt [1]: The hub blinks red when offline. Why is it red?"},
             {"role": "assistant", "content": "It is offline [1]."}]]
    examples = [tokenize_row(tokenizer, r, 192) for r in rows]
    batch = collate([{"input_ids": e.input_ids, "labels": e.labels} for e in examples], tokenizer.pad_token_id)
    ours = answer_token_loss(model, batch)
    theirs = model(**batch).loss
    assert torch.isclose(ours, theirs, rtol=1e-4), (float(ours), float(theirs))
    ours.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)
