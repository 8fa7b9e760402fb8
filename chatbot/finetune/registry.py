"""The registry of fine-tuned models: one folder per model under HOME/models/finetuned/NAME holding the
weights, the tokenizer with its chat template, and `record.json` (a ModelRecord). The active model's
name is kept in HOME/models/finetuned/ACTIVE."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from chatbot.config import Settings

RECORD_FILE = "record.json"
ACTIVE_FILE = "ACTIVE"
READER_DIR = "reader"  # the hybrid arm's own weights inside a model folder, when its preset trains them
HELD_OUT_FILE = "held_out.jsonl"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RegistryError(ValueError):
    """An unknown or invalid model name; the message is for the user."""


class ChangeLog(Protocol):
    """What `staleness` needs from the knowledge store."""

    def changes_since(self, version: int) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class ModelRecord:
    """What was trained, from what, how, and how well: written to record.json beside the weights."""

    name: str
    base_model: str
    method: str  # "full" or "lora"
    hyperparams: dict[str, Any]
    train_loss: float | None
    val_loss: float | None
    trained_at: str  # ISO 8601, UTC
    data_sha256: str
    kb_version: int
    duration_s: float
    path: str
    loss_history: list[dict[str, float]] = field(default_factory=list)  # [{"step", "loss"}, ...]
    arms: list[str] = field(default_factory=lambda: ["finetuned"])  # the arms it was trained for
    figures: dict[str, Any] = field(default_factory=dict)  # steps, rows, times, peak memory, pairs written

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weights_for(self, arm: str) -> str:
        """The folder whose weights answer `arm`: for the hybrid arm the reader's, when the preset trained
        one (`READER_DIR` inside the model's folder, with its own record), else the model's own."""
        reader = Path(self.path) / READER_DIR
        return str(reader) if arm == "hybrid" and (reader / RECORD_FILE).is_file() else self.path

    def display_name(self, path: str) -> str:
        """What answers from the weights at `path` (`weights_for`) name as their model."""
        role = " reader" if path != self.path else ""
        return f"{self.name}{role} (fine-tuned {self.base_model.removeprefix('packaged:')})"

    def arms_note(self) -> str:
        """Which arms the model was trained for, in words (the hybrid arm always uses it or its reader).

        >>> ModelRecord(name="m", base_model="b", method="full", hyperparams={}, train_loss=None, val_loss=None,
        ...             trained_at="", data_sha256="", kb_version=0, duration_s=0, path="/nowhere",
        ...             arms=["finetuned"]).arms_note()
        'trained closed-book; the hybrid arm uses it with retrieval'
        """
        if "hybrid" in self.arms:
            return "serves the finetuned and hybrid arms"
        return "trained closed-book; the hybrid arm uses it with retrieval"

    def summary(self) -> dict[str, Any]:
        """The fields `chatbot models list --json` prints (no path, no loss history)."""
        keys = ("name", "base_model", "method", "hyperparams", "train_loss", "val_loss", "trained_at",
                "data_sha256", "kb_version", "duration_s", "arms", "figures")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def finetuned_dir(settings: Settings) -> Path:
    return settings.models_dir / "finetuned"


def check_name(name: str) -> str:
    """A model name is a folder name: letters, digits, '.', '_' and '-', at most 100 characters.

    >>> check_name("smollm2-quick-1")
    'smollm2-quick-1'
    """
    if not _NAME.match(name) or name in {".", ".."}:
        raise RegistryError(f"Invalid model name {name!r}: use letters, digits, '.', '_' and '-'.")
    return name


def write_record(record: ModelRecord, folder: Path) -> None:
    tmp = folder / (RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=2) + "\n")
    os.replace(tmp, folder / RECORD_FILE)


def write_held_out(pairs, folder: Path) -> None:
    """The validation pairs a model was not trained on, as HELD_OUT_FILE (the live-KB evaluation asks them)."""
    rows = [{"question": p.question, "answer": p.answer, "source": p.source, "kind": p.kind} for p in pairs]
    (folder / HELD_OUT_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_held_out(record: ModelRecord) -> list[dict[str, str]]:
    """The model's held-out pairs ([] for a model trained before they were kept)."""
    path = Path(record.path) / HELD_OUT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_record(folder: Path) -> ModelRecord:
    """Read a model folder's record; `path` is the folder where it is now, wherever it was trained."""
    data = json.loads((folder / RECORD_FILE).read_text())
    return ModelRecord.from_dict({**data, "path": str(folder)})


def list_models(settings: Settings) -> list[ModelRecord]:
    """Every complete fine-tuned model, oldest first (folders without a readable record are skipped)."""
    root = finetuned_dir(settings)
    if not root.is_dir():
        return []
    records = []
    for folder in root.iterdir():
        if folder.is_dir() and (folder / RECORD_FILE).is_file():
            try:
                records.append(read_record(folder))
            except (ValueError, TypeError, OSError):
                continue
    return sorted(records, key=lambda r: (r.trained_at, r.name))


def get_model(settings: Settings, name: str) -> ModelRecord:
    folder = finetuned_dir(settings) / check_name(name)
    if not (folder / RECORD_FILE).is_file():
        raise RegistryError(f"No fine-tuned model named {name!r}; see `chatbot models list`.")
    return read_record(folder)


def delete_model(settings: Settings, name: str) -> None:
    """Remove a model's folder; if it was the active model, no model is active afterwards."""
    record = get_model(settings, name)
    if _read_active(settings) == name:
        (finetuned_dir(settings) / ACTIVE_FILE).unlink(missing_ok=True)
    shutil.rmtree(record.path)


def set_active(settings: Settings, name: str) -> ModelRecord:
    """Make `name` the model the fine-tuned and hybrid arms use."""
    record = get_model(settings, name)
    path = finetuned_dir(settings) / ACTIVE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(name + "\n")
    os.replace(tmp, path)
    return record


def get_active(settings: Settings) -> ModelRecord | None:
    """The active model's record, or None when none is set or it was removed."""
    name = _read_active(settings)
    if not name:
        return None
    try:
        return get_model(settings, name)
    except RegistryError:
        return None


def _read_active(settings: Settings) -> str:
    path = finetuned_dir(settings) / ACTIVE_FILE
    return path.read_text().strip() if path.is_file() else ""


def staleness(record: ModelRecord, store: ChangeLog) -> tuple[int, list[tuple[str, str]]]:
    """How many documents changed since the model's training data was taken, and which:
    (count, [(doc_id, last action), ...]) from `store.changes_since(record.kb_version)`."""
    changes = store.changes_since(record.kb_version)
    return len(changes), changes
