"""Supervised fine-tuning of a chat model on the rows from `chatbot.finetune.data`.

transformers' `Trainer` (AdamW, linear warm-up and decay, gradient clipping, batches grouped by length)
over chat-template rows, with the loss on the assistant's tokens only: the prompt is the same
`closed_book_messages` the fine-tuned arm sends at answer time. Small models are fully fine-tuned;
larger ones get LoRA adapters (peft) that are merged into the weights before saving, so every saved
folder loads with plain `AutoModelForCausalLM.from_pretrained` (and so through `make_chat_model`).

Presets (a GPU is used when present). Both train on tickets and written pairs (pairs.py), standard also on
RAG-prompt rows (raft.py); they evaluate the validation loss every `eval_steps` steps, keep the best weights,
and stop when it stops improving (`patience`), after `epochs`, or at `max_minutes` of training:
    quick     SmolLM2-135M, full fine-tune on the closed-book rows only (<= 256 tokens; the hybrid arm uses
              it with retrieval), 3 pairs per chunk written by the 0.5B packaged model for at most 2 minutes
              (cached pairs are reused, so each run covers more chunks; the rest keep their templated pairs),
              at most 5 minutes of training.
    standard  Qwen2.5-Coder-0.5B, LoRA r=16 on all linear layers, 4 pairs per chunk written by the 0.5B
              model for at most 20 minutes, two models: the closed-book one (fine-tuned arm) on the short
              rows, up to 3 passes or 15 minutes; the reader (hybrid arm, `reader/` in the model's folder)
              on the RAG-prompt rows of <= 512 tokens, one pass or 15 minutes, recomputing activations to
              save memory.
Per-step costs on a 2-core CPU are in ../shared/MODELS.md (SmolLM2 ~7.7 s, the 0.5B ~22 s per step of 8
rows of 128 tokens); measured runs, with the time to write the pairs, are in bench/README.md.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.config import PACKAGED_LIGHT_CHAT, PACKAGED_SMALL_CHAT, Settings
from chatbot.finetune.data import (
    QAPair,
    Row,
    TrainingData,
    build_training_data,
    is_reading_row,
    load_tickets,
    split_reading_rows,
)
from chatbot.finetune.registry import (
    READER_DIR,
    ModelRecord,
    RegistryError,
    check_name,
    finetuned_dir,
    write_held_out,
    write_record,
)
from chatbot.llm.files import resolve_chat_model
from chatbot.types import Chunk

log = logging.getLogger(__name__)
IGNORE = -100  # label of tokens that carry no loss (prompt and padding)

Progress = Callable[[int, int, float], None]


class TrainingCancelled(RuntimeError):
    """Training was stopped through the `cancel` event; nothing was saved."""


@dataclass(frozen=True)
class Preset:
    """Everything that decides how a model is trained; recorded in ModelRecord.hyperparams."""

    base: str
    method: str  # "full" or "lora"
    learning_rate: float
    batch_size: int = 8
    max_length: int = 192
    epochs: int = 1
    max_steps: int | None = None  # cap on optimizer steps (None: `epochs` full passes)
    max_minutes: float | None = None  # stop at the next evaluation after this much training time
    eval_steps: int = 8  # validation loss every this many steps; the best weights are kept
    patience: int = 2  # stop after this many evaluations without a better validation loss
    max_val_rows: int = 48
    pairs_per_chunk: int = 3  # questions the answer model writes per chunk (chatbot/finetune/pairs.py)
    pair_model: str = ""  # the model that writes them ("": the chat model; CHATBOT_PAIR_MODEL overrides both)
    pair_minutes: float | None = None  # stop writing new pairs after this long (cached ones are free)
    checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% more time
    raft: bool = True  # add RAG-prompt examples (chatbot/finetune/raft.py) so the hybrid arm reads documents
    reader: Preset | None = None  # train the RAG-prompt rows into a second model of their own, for the hybrid arm
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 0


PRESETS: dict[str, Preset] = {
    # under 10 minutes on a 2-core CPU: 2 of writing pairs (each later run adds more from the cache), 5 of
    # training and ~2.5 of loading, evaluating and saving. Closed-book rows only: with the RAG-prompt rows
    # (<= 448 tokens) a step took 40-50 s and a first run trained 5 steps, learning nothing; the hybrid
    # arm uses this model with retrieval (domain fine-tuning + RAG).
    "quick": Preset(base=PACKAGED_SMALL_CHAT, method="full", learning_rate=1e-4, max_length=256, epochs=3,
                    max_minutes=5.0, eval_steps=10, max_val_rows=32, pairs_per_chunk=3, raft=False,
                    pair_model=PACKAGED_LIGHT_CHAT, pair_minutes=2.0),
    # two models: the closed-book one learns the facts from short rows (several passes); the reader learns
    # the RAG prompt from the RAFT rows alone, so that it reads the excerpts instead of reciting facts
    # (about 60 minutes on a 2-core CPU: up to 20 writing pairs on a first run, 15 per model and ~5 of
    # loading, validation passes and saving; with 25 minutes of pairs emanual_smarttv took 64.6, bench/README.md)
    "standard": Preset(base=PACKAGED_LIGHT_CHAT, method="lora", learning_rate=3e-4, max_length=256, epochs=3,
                       max_minutes=15.0, eval_steps=16, patience=2, max_val_rows=64, pairs_per_chunk=4,
                       pair_model=PACKAGED_LIGHT_CHAT, pair_minutes=20.0,
                       reader=Preset(base=PACKAGED_LIGHT_CHAT, method="lora", learning_rate=2e-4, max_length=512,
                                     epochs=1, max_minutes=15.0, eval_steps=10, max_val_rows=48,
                                     checkpointing=True)),
}


@dataclass(frozen=True)
class Example:
    """One tokenised row: labels are IGNORE on the prompt, the token ids on the answer."""

    input_ids: list[int]
    labels: list[int]


# --- tokenisation and batching (pure, given a tokenizer) ---------------------------------------
def tokenize_row(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> Example | None:
    """Token ids of the chat-template text of `messages`, with loss only on the final (assistant)
    message and its end-of-turn token. The prompt part is exactly what `apply_chat_template(...,
    add_generation_prompt=True)` gives at answer time. Returns None if the prompt alone fills
    `max_length`; a long answer is cut at `max_length`."""
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template's prompt is not a prefix of the full conversation")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + 4 > max_length or not answer_ids:
        return None
    answer_ids = answer_ids[: max_length - len(prompt_ids)]
    return Example(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids)


def collate(batch: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors from rows of {"input_ids", "labels"}: input_ids, attention_mask, labels
    (IGNORE on padding)."""
    import torch

    width = max(len(e["input_ids"]) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex["input_ids"])
        ids[row, :n] = torch.tensor(ex["input_ids"])
        labels[row, :n] = torch.tensor(ex["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_token_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """The causal-LM loss on the answer tokens, with the output layer applied to those positions only.
    Equal to the model's own loss (mean cross-entropy over the labelled tokens), but a 150k-word
    vocabulary's logits for every prompt token cost gigabytes and most of a CPU step's time: answers are
    a tenth of a RAG-prompt row. Models without a separate decoder and head get the ordinary forward."""
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under LoRA
    decoder, head = base.get_decoder(), base.get_output_embeddings()
    labels = inputs["labels"]
    if decoder is None or head is None or decoder is base:
        return model(**inputs).loss
    hidden = decoder(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), targets[keep])


def default_name(base: str, preset: str, now: datetime) -> str:
    """A model name from the base model, preset and time.

    >>> default_name("packaged:smollm2-135m-instruct", "quick", datetime(2025, 1, 2, 3, 4, 5))
    'smollm2-135m-instruct-quick-20250102-030405'
    """
    stem = Path(base.removeprefix("packaged:").rstrip("/")).name or "model"
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)[:60].strip("-._") or "model"
    return f"{stem}-{preset}-{now:%Y%m%d-%H%M%S}"


# --- training ----------------------------------------------------------------------------------
def finetune(
    settings: Settings,
    base: str | None = None,
    tickets: Path | None = None,
    chunks: Sequence[Chunk] = (),
    kb_version: int = 0,
    preset: str = "quick",
    name: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    exclude: Collection[str] = (),
    max_steps: int | None = None,
    overrides: dict[str, Any] | None = None,
    generated: Sequence[QAPair] = (),
    raft: Callable[[Sequence[QAPair]], list[Row]] | None = None,
    figures: dict[str, Any] | None = None,
    unwritten: Collection[str] = (),
) -> ModelRecord:
    """Fine-tune `base` (default: the preset's) on tickets + pairs derived from `chunks`, save it under
    HOME/models/finetuned/NAME and return its record.

    `generated` are model-written pairs (pairs.py; the chunks in `unwritten` have none) and `raft` builds
    RAG-prompt rows from pairs (raft.py, used when the preset's `raft` is on); `figures` (e.g. pair-writing
    time) go into the record with the run's own. `progress(step, total_steps, loss)` is called after every
    optimizer step; setting `cancel` ends training after the current step and raises TrainingCancelled
    (nothing is saved). Questions in `exclude` are never trained on. `max_steps` and `overrides` (Preset
    field -> value) adjust the preset. With a `reader` preset the RAG-prompt rows train a second model, saved
    in READER_DIR inside the model's folder for the hybrid arm (`ModelRecord.weights_for`).
    """
    started = time.perf_counter()
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    config = replace(PRESETS[preset], **(overrides or {}))
    if base:
        config = replace(config, base=base, method=(overrides or {}).get("method") or _method_for(base))
    if max_steps is not None:
        config = replace(config, max_steps=max_steps)
    name = check_name(name or default_name(config.base, preset, datetime.now(UTC)))
    root = finetuned_dir(settings)
    if (root / name).exists():
        raise RegistryError(f"A fine-tuned model named {name!r} already exists.")

    ticket_pairs: list[QAPair] = load_tickets(tickets) if tickets else []
    data = build_training_data(ticket_pairs, chunks, exclude=exclude, val_fraction=config.val_fraction,
                               generated=generated, raft=raft if config.raft else None, unwritten=unwritten)
    if not data.train:
        raise ValueError("No training rows: give a tickets file or index some documents first.")
    log.info("training data: %d train / %d validation rows (%s)", len(data.train), len(data.validation),
             data.sources)

    closed, reading = split_reading_rows(data) if config.reader and config.raft else (data, None)
    tmp = root / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        run = _Run(settings, config, closed, progress, cancel)
        run.train_and_save(tmp)
        reader = None
        if reading is not None and reading.train and config.reader is not None:
            reader_config = replace(config.reader, base=config.base, method=config.method, seed=config.seed)
            reader = _Run(settings, reader_config, reading, _after(progress, run.steps), cancel)
            reader.train_and_save(tmp / READER_DIR)
        trained_reading = reader is not None or any(is_reading_row(r) for r in closed.train)
        figures = {**(figures or {}), **run.figures(), **({"reader": reader.figures()} if reader else {}),
                   "total_s": round(time.perf_counter() - started, 1)}
        hyperparams = {**run.hyperparams(preset), **({"reader": reader.hyperparams(preset)} if reader else {})}
        record = ModelRecord(
            name=name, base_model=config.base, method=config.method, hyperparams=hyperparams,
            train_loss=run.train_loss, val_loss=run.val_loss,
            trained_at=datetime.now(UTC).isoformat(timespec="seconds"), data_sha256=data.data_sha256,
            kb_version=kb_version, duration_s=round(time.perf_counter() - started, 1),
            path=str(root / name), loss_history=run.history,
            arms=["finetuned", "hybrid"] if trained_reading else ["finetuned"], figures=figures)
        write_record(record, tmp)
        if reader is not None:  # its own record: what it learned, and the base model its GGUF export needs
            write_record(replace(record, arms=["hybrid"], hyperparams=reader.hyperparams(preset),
                                 train_loss=reader.train_loss, val_loss=reader.val_loss,
                                 loss_history=reader.history, data_sha256=reading.data_sha256,
                                 figures=reader.figures(), path=str(root / name / READER_DIR)), tmp / READER_DIR)
        write_held_out(data.held_out, tmp)
        os.replace(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _after(progress: Progress | None, done: int) -> Progress | None:
    """`progress` for a second run that continues the first's step count."""
    if progress is None:
        return None
    return lambda step, total, loss: progress(done + step, done + total, loss)


def _method_for(base: str) -> str:
    """Full fine-tune for the small packaged model, LoRA for anything else."""
    return "full" if base == PACKAGED_SMALL_CHAT else "lora"


class _Run:
    """One training run with transformers' Trainer: loads the model, trains it, keeps the losses."""

    def __init__(self, settings: Settings, config: Preset, data: TrainingData,
                 progress: Progress | None, cancel: threading.Event | None):
        self.settings, self.config, self.data = settings, config, data
        self.progress, self.cancel = progress, cancel
        self.history: list[dict[str, float]] = []
        self.train_loss: float | None = None
        self.val_loss: float | None = None
        self.val_loss_before: float | None = None
        self.steps = 0
        self.n_train = self.n_val = 0
        self.device = "cpu"
        self.train_s = 0.0
        self.best_loss: float | None = None
        self.best_step = 0
        self.best_weights: dict[str, Any] | None = None
        self.stopped_early = ""  # why training stopped before its last step ("patience", "time")
        self.evaluations_without_gain = 0
        self.train_started = 0.0
        self.training = False  # inside trainer.train(): evaluations there count towards early stopping

    def train(self):
        import tempfile

        import torch
        from transformers import PrinterCallback, Trainer, TrainingArguments

        cfg = self.config
        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        torch.manual_seed(cfg.seed)
        model, tokenizer = self._load()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        train_ex = _tokenize(tokenizer, self.data.train, cfg.max_length)
        val_ex = _tokenize(tokenizer, self.data.validation[: cfg.max_val_rows], cfg.max_length)
        self.n_train, self.n_val = len(train_ex), len(val_ex)
        if not train_ex:
            raise ValueError(f"Every training row is longer than max_length={cfg.max_length} tokens.")
        per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
        total = per_epoch * cfg.epochs if cfg.max_steps is None else cfg.max_steps
        gpu = torch.cuda.is_available()

        with tempfile.TemporaryDirectory(prefix="chatbot-finetune-") as scratch:
            args = TrainingArguments(
                output_dir=scratch, save_strategy="no", report_to="none",
                eval_strategy="steps" if val_ex else "no", eval_steps=cfg.eval_steps,
                disable_tqdm=True, logging_steps=1, seed=cfg.seed, use_cpu=not gpu,
                bf16=gpu and torch.cuda.is_bf16_supported(), dataloader_num_workers=0,
                per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
                max_steps=total, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                lr_scheduler_type="linear", warmup_steps=cfg.warmup_ratio, max_grad_norm=1.0,
                train_sampling_strategy="group_by_length",  # batches of similar length: less padding
                remove_unused_columns=False, prediction_loss_only=True,
                activation_checkpointing=cfg.checkpointing,
                activation_checkpointing_kwargs={"use_reentrant": False},
            )
            class AnswerLossTrainer(Trainer):
                def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ARG002
                    loss = answer_token_loss(model, inputs)
                    return (loss, {"loss": loss}) if return_outputs else loss

            trainer = AnswerLossTrainer(
                model=model, args=args, processing_class=tokenizer,
                data_collator=lambda rows: collate(rows, pad_id),
                train_dataset=[asdict(e) for e in train_ex], eval_dataset=[asdict(e) for e in val_ex] or None,
                callbacks=[_watch(self)],
            )
            trainer.remove_callback(PrinterCallback)  # progress goes to `progress`, not to stdout
            self.device = str(args.device)
            self.val_loss_before = self._evaluate(trainer)
            if self.val_loss_before is not None:
                self.history.append({"step": 0, "val_loss": self.val_loss_before})
                self.on_evaluate(trainer.model, self.val_loss_before)  # the loss to beat
            self.train_started = time.perf_counter()
            self.training = True
            try:
                trainer.train()
            finally:
                self.training = False
            self.check_cancel()
            self.train_s = time.perf_counter() - self.train_started
            last = [h for h in self.history if "val_loss" in h][-1:]
            if last and last[0]["step"] == self.steps and self.steps:  # the Trainer evaluated at the last step
                self.val_loss = last[0]["val_loss"]
            else:
                self.val_loss = self._evaluate(trainer)
                if self.val_loss is not None:
                    self.history.append({"step": self.steps, "val_loss": self.val_loss})
        if self.best_weights is not None and self.best_loss is not None and self.best_loss < self.val_loss:
            trainer.model.load_state_dict(self.best_weights, strict=False)  # back to the best evaluation
            self.val_loss = self.best_loss
        elif self.val_loss is not None and (self.best_loss is None or self.val_loss < self.best_loss):
            self.best_loss, self.best_step = self.val_loss, self.steps  # the last weights are the best: kept
        recent = [h["loss"] for h in self.history if "loss" in h][-10:]
        self.train_loss = round(sum(recent) / len(recent), 4) if recent else None
        model = trainer.model
        if cfg.method == "lora":
            model = model.merge_and_unload()
        return model, tokenizer

    def train_and_save(self, folder: Path) -> None:
        """Train, then save the weights and tokenizer into `folder` (created) and release the model."""
        import gc

        model, tokenizer = self.train()
        folder.mkdir(parents=True, exist_ok=True)
        _save(model, tokenizer, folder)
        del model
        gc.collect()

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_chat_model(self.config.base, self.settings.models_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        if tokenizer.chat_template is None:
            raise ValueError(f"{self.config.base} has no chat template; fine-tune an instruct/chat model.")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        if self.config.method == "lora":
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha,
                              lora_dropout=self.config.lora_dropout, target_modules="all-linear",
                              task_type="CAUSAL_LM")
            model = get_peft_model(model, lora)
        model.config.use_cache = False
        return model, tokenizer

    def _evaluate(self, trainer) -> float | None:
        """Mean validation loss (None without validation rows)."""
        if trainer.eval_dataset is None:
            return None
        return round(float(trainer.evaluate()["eval_loss"]), 4)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise TrainingCancelled("Fine-tuning was cancelled; no model was saved.")

    def on_evaluate(self, model, loss: float) -> bool:
        """Keep the weights when `loss` is the best validation loss so far; True when training should stop
        (no gain for `patience` evaluations in a row, or over the time budget)."""
        if self.best_loss is None or loss < self.best_loss - 1e-4:
            self.best_loss, self.best_step, self.evaluations_without_gain = loss, self.steps, 0
            self.best_weights = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
        else:
            self.evaluations_without_gain += 1
        if not self.training:
            return False
        if self.evaluations_without_gain >= self.config.patience:
            self.stopped_early = "patience"
        elif self.config.max_minutes and time.perf_counter() - self.train_started > 60 * self.config.max_minutes:
            self.stopped_early = "time"
        return bool(self.stopped_early)

    def figures(self) -> dict[str, Any]:
        """The run's figures for the model record: steps, rows, training time, best step, peak memory."""
        import resource

        return {"steps": self.steps, "train_rows": self.n_train, "val_rows": self.n_val,
                "train_s": round(self.train_s, 1), "best_step": self.best_step,
                "stopped": self.stopped_early or "end",
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}

    def on_step(self, step: int, total: int, loss: float) -> None:
        self.steps = step
        self.history.append({"step": step, "loss": round(loss, 4)})
        if self.progress:
            self.progress(step, total, loss)

    def hyperparams(self, preset: str) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg.pop("base")
        if self.config.method != "lora":
            for key in ("lora_r", "lora_alpha", "lora_dropout"):
                cfg.pop(key)
        return {"preset": preset, **cfg, "steps": self.steps, "train_rows": self.n_train,
                "val_rows": self.n_val, "val_loss_before": _round(self.val_loss_before),
                "excluded_questions": self.data.n_excluded, "sources": self.data.sources,
                "device": self.device, "trainer": "transformers.Trainer"}


def _watch(run: _Run):
    """A Trainer callback that reports each step's loss to `run` and stops on its cancel event."""
    from transformers import TrainerCallback

    def stop_if_cancelled(control) -> bool:
        """Ask the Trainer to end after this step when cancelled; `train` then raises TrainingCancelled."""
        if run.cancel is not None and run.cancel.is_set():
            control.should_training_stop = True
        return bool(control.should_training_stop)

    class Watch(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002
            if stop_if_cancelled(control):
                return
            budget = run.config.max_minutes
            if budget and time.perf_counter() - run.train_started > 60 * budget:
                run.stopped_early = "time"
                control.should_training_stop = True

        def on_prediction_step(self, args, state, control, **kwargs):  # noqa: ARG002
            run.check_cancel()  # an evaluation pass has no stop flag of its own

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ARG002
            if logs and "loss" in logs:
                run.on_step(state.global_step, state.max_steps, float(logs["loss"]))
            stop_if_cancelled(control)  # set by `progress`, say: no further step starts

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):  # noqa: ARG002
            if run.training and metrics and "eval_loss" in metrics and model is not None:
                loss = round(float(metrics["eval_loss"]), 4)
                run.history.append({"step": state.global_step, "val_loss": loss})
                if run.on_evaluate(model, loss):
                    control.should_training_stop = True

    return Watch()


def _tokenize(tokenizer: Any, rows: Sequence[Row], max_length: int) -> list[Example]:
    examples = (tokenize_row(tokenizer, row["messages"], max_length) for row in rows)
    return [e for e in examples if e is not None]


def _save(model, tokenizer, folder: Path) -> None:
    """bf16 safetensors (as the converted base models are) + tokenizer with its chat template."""
    import torch

    model = model.to("cpu", dtype=torch.bfloat16)
    model.config.use_cache = True
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
