"""Export a fine-tuned transformers folder to a GGUF file llama.cpp runs, so fine-tuned models get the
same engine as the base model. The base model's own GGUF is the template: its metadata and tokenizer are
copied verbatim and the fine-tuned weights are written under the same tensor names and shapes. Only the
chat template is taken from the fine-tuned folder (training and answering must share it).

`finetuned_gguf(folder, models_dir)` is the cached entry point: it writes `model.gguf` into a fine-tuned
model's folder once (atomically) and returns None, with a warning, when the model cannot be exported
(unknown architecture, base model without a GGUF), so the caller stays on transformers.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot.llm.files import ModelFileError, resolve_gguf

log = logging.getLogger(__name__)

GGUF_FILE = "model.gguf"
# Architectures we export, and whether their GGUF q/k weights are permuted relative to Hugging Face's
# (llama.cpp's converter permutes llama's rotary halves into interleaved pairs; transformers undoes it
# when it loads a GGUF, so the exporter must redo it). model_type in config.json must match.
ARCHITECTURES = {"llama": True, "qwen2": False}
# Q8_0 over F16: on this CPU it generates ~1.5x faster (half the bytes to read per token) and reads
# prompts ~15% slower; against the base models' own 4-5-bit files it is as fast or faster at both. F16 is
# lossless from the saved bf16 (greedy output equal to transformers'); Q8_0 kept the 0.5B model's greedy
# output equal on the prompts tried (bench/README.md, "Fine-tuned models on llama.cpp").
DEFAULT_WEIGHT_TYPE = "Q8_0"


class ExportError(RuntimeError):
    """The folder cannot be exported with this template; the message says why (for a log line)."""


def permute_qk(weight, n_head: int):
    """Hugging Face q/k rows (per head: the first rotary half, then the second) into llama.cpp's
    interleaved order; the inverse of transformers' `reverse_permute` for llama GGUF files.

    >>> import numpy as np
    >>> permute_qk(np.arange(8).reshape(8, 1), 2)[:, 0].tolist()
    [0, 2, 1, 3, 4, 6, 5, 7]
    """
    rows = weight.shape[0]
    return (weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def export_gguf(folder: Path, template: Path, out: Path, weight_type: str = DEFAULT_WEIGHT_TYPE) -> Path:
    """Write `out`: the template GGUF's metadata and tokenizer with the weights of the transformers
    `folder` (2-D weights as `weight_type`: "Q8_0", "F16" or "Q4_0"; norms and biases in F32)."""
    import gguf
    import numpy as np

    qtype, file_type = _weight_types()[weight_type]
    reader = gguf.GGUFReader(str(template))
    arch = str(_field(reader, "general.architecture"))
    if arch not in ARCHITECTURES:
        raise ExportError(f"architecture {arch!r} is not supported (known: {', '.join(ARCHITECTURES)})")
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != arch:
        raise ExportError(f"the folder is a {config.get('model_type')!r} model, the template a {arch!r} one")
    n_blocks = int(_field(reader, f"{arch}.block_count"))
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(_field(reader, f"{arch}.attention.head_count_kv"))
    if (config.get("num_hidden_layers"), config.get("num_attention_heads"), config.get("num_key_value_heads")) \
            != (n_blocks, n_head, n_head_kv):
        raise ExportError("layer or head counts differ between the folder's config.json and the template")

    weights = _SafetensorsFolder(folder)
    names = gguf.get_tensor_name_map({v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch], n_blocks)
    by_gguf: dict[str, str] = {}
    for hf_name in weights.keys():
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"no GGUF name for tensor {hf_name!r}")
        by_gguf[gguf_name] = hf_name

    wanted = [t.name for t in reader.tensors]
    if "output.weight" in by_gguf and "output.weight" not in wanted:
        # The template ties the output layer to the embeddings; keep it tied unless training untied it.
        if np.array_equal(weights.get(by_gguf["output.weight"]), weights.get(by_gguf["token_embd.weight"])):
            del by_gguf["output.weight"]
        else:
            wanted.append("output.weight")
    if "output.weight" in wanted and "output.weight" not in by_gguf:
        by_gguf["output.weight"] = by_gguf.get("token_embd.weight", "")  # tied in the folder, not the template
    missing = [n for n in wanted if not by_gguf.get(n)]
    extra = sorted(set(by_gguf) - set(wanted))
    if missing or extra:
        raise ExportError(f"tensors differ from the template: missing {missing[:3]}, unexpected {extra[:3]}")
    shapes = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}  # numpy order
    shapes.setdefault("output.weight", shapes["token_embd.weight"])
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    kinds = {name: qtype if len(shapes[name]) == 2 and shapes[name][1] % block == 0
             else gguf.GGMLQuantizationType.F32 for name in wanted}
    for name in wanted:
        if weights.shape(by_gguf[name]) != shapes[name]:
            raise ExportError(f"{name}: shape {weights.shape(by_gguf[name])} differs from the template's "
                              f"{shapes[name]}")

    writer = gguf.GGUFWriter(str(out), arch)
    _copy_metadata(reader, writer, folder, file_type)
    # The file lists every tensor before the data: describe them all, then convert and write one at a time.
    for name in wanted:
        writer.add_tensor_info(name, shapes[name], np.dtype(np.float32), _nbytes(shapes[name], kinds[name]),
                               raw_dtype=kinds[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name in wanted:
        data = weights.get(by_gguf[name])
        if ARCHITECTURES[arch] and name.endswith("attn_q.weight"):
            data = permute_qk(data, n_head)
        elif ARCHITECTURES[arch] and name.endswith("attn_k.weight"):
            data = permute_qk(data, n_head_kv)
        if kinds[name] == gguf.GGMLQuantizationType.F32:
            writer.write_tensor_data(data.astype(np.float32))
        else:
            writer.write_tensor_data(gguf.quants.quantize(data, kinds[name]))
    writer.close()
    return out


def _nbytes(shape: tuple[int, ...], kind) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[kind]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


def _field(reader, key: str) -> Any:
    field = reader.get_field(key)
    if field is None:
        raise ExportError(f"the template has no {key!r}")
    return field.contents()


def _weight_types() -> dict[str, tuple[Any, Any]]:
    """Weight type name -> (GGML tensor type, GGUF file type) for the types gguf-py can quantise."""
    import gguf

    q, f = gguf.GGMLQuantizationType, gguf.LlamaFileType
    return {"Q8_0": (q.Q8_0, f.MOSTLY_Q8_0), "F16": (q.F16, f.MOSTLY_F16), "Q4_0": (q.Q4_0, f.MOSTLY_Q4_0)}


def _copy_metadata(reader, writer, folder: Path, file_type) -> None:
    """Every key/value of the template except the ones the writer sets itself, the file type (the weights
    changed type) and the chat template (the fine-tuned folder's own, when it has one)."""
    import gguf

    chat_template = _chat_template(folder)
    skip = {"general.architecture", "general.file_type"}
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in skip:
            continue
        if field.name == "tokenizer.chat_template" and chat_template:
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    writer.add_file_type(file_type)
    if chat_template:
        writer.add_chat_template(chat_template)


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    config = folder / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text()).get("chat_template")
        return template if isinstance(template, str) else None
    return None


class _SafetensorsFolder:
    """The tensors of a transformers folder (one file or shards), read one at a time as float32 numpy."""

    def __init__(self, folder: Path):
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            files = json.loads(index.read_text())["weight_map"]
            self.files = {name: folder / file for name, file in files.items()}
        elif (folder / "model.safetensors").is_file():
            from safetensors import safe_open

            with safe_open(str(folder / "model.safetensors"), "pt") as fh:
                self.files = {name: folder / "model.safetensors" for name in fh.keys()}
        else:
            raise ExportError(f"no safetensors weights in {folder}")

    def keys(self) -> Iterator[str]:
        return iter(self.files)

    def shape(self, name: str) -> tuple[int, ...]:
        from safetensors import safe_open

        with safe_open(str(self.files[name]), "pt") as fh:
            return tuple(fh.get_slice(name).get_shape())

    def get(self, name: str):
        import torch
        from safetensors import safe_open

        with safe_open(str(self.files[name]), "pt") as fh:
            return fh.get_tensor(name).to(torch.float32).numpy()


def _newest_weights(folder: Path) -> int:
    return max((p.stat().st_mtime_ns for p in folder.glob("*.safetensors")), default=0)


def finetuned_gguf(folder: str | Path, models_dir: Path, weight_type: str = DEFAULT_WEIGHT_TYPE) -> Path | None:
    """The GGUF of a fine-tuned model folder (one with a registry `record.json`), exported on first use
    into `folder/model.gguf` and reused while the weights are unchanged. None, with a warning, when the
    folder can't be exported; None without one when it is not a fine-tuned model folder."""
    folder = Path(folder).expanduser()
    record = folder / "record.json"
    if not folder.is_dir() or not record.is_file():
        return None
    out = folder / GGUF_FILE
    if out.is_file() and out.stat().st_mtime_ns >= _newest_weights(folder):
        return out
    try:
        base = json.loads(record.read_text())["base_model"]
        template = resolve_gguf(base, models_dir)
        if template is None:
            raise ExportError(f"its base model {base!r} is not a GGUF model")
        log.warning("Exporting %s to GGUF for llama.cpp (one time, up to a minute)...", folder.name)
        fd, tmp = tempfile.mkstemp(prefix=".model.", suffix=".gguf.partial", dir=folder)
        os.close(fd)
        try:
            export_gguf(folder, template, Path(tmp), weight_type)
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; other replicas on a shared volume read it
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except (ExportError, ModelFileError, OSError, KeyError, ValueError) as exc:
        log.warning("Fine-tuned model %s stays on transformers (slower): cannot export it to GGUF: %s",
                    folder.name, exc)
        return None
    return out
