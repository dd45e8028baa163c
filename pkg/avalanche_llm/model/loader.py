"""Load the model and tokenizer named by ``model.hf_id``: a hub repo id, a local directory, or
``pypackage://<module>/<folder>`` (a folder inside an installed Python package).

Hub models are fetched into the Hugging Face cache (``snapshot_download``; offline this uses the
cache only) and then loaded from that local snapshot, like every other source. With ``--device
cuda`` the whole model must sit on the GPU: no ``device_map``, no offload; a missing GPU, a model
that does not fit, or any parameter left elsewhere stops the run with one clear line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import torch

from runlab import ConfigError, sha256_file

from ..config import ModelSettings, RuntimeSettings
from .demo import demo_reason
from .hooks import Architecture, architecture_of, blocks_of

__all__ = ["DTYPES", "LoadedModel", "load_model", "model_directory", "require_device"]

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PACKAGE_PREFIX = "pypackage://"
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


@dataclass(frozen=True)
class LoadedModel:
    model: torch.nn.Module
    tokenizer: Any
    architecture: Architecture
    device: torch.device
    dtype: torch.dtype
    n_layers: int
    hidden: int
    max_positions: int | None  # the position table's length (None: no absolute positions)
    provenance: dict[str, Any]  # for the run record: source, resolved folder, weight hashes, sizes


def require_device(device: str) -> torch.device:
    """``cpu`` or ``cuda``; ``cuda`` without a visible GPU is exit 2 (never a silent CPU run)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda, but torch sees no GPU", "run on a GPU node or pass --device cpu")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}", "use cpu or cuda")
    return torch.device(device)


def model_directory(hf_id: str, revision: str | None) -> Path:
    """The local folder holding the model's config, weights and tokenizer."""
    if hf_id.startswith(PACKAGE_PREFIX):
        module, _, folder = hf_id[len(PACKAGE_PREFIX) :].partition("/")
        try:
            package = import_module(module)
        except ImportError as exc:
            raise ConfigError(f"model {hf_id}: Python package {module} is not installed",
                              f"pip install {module.replace('_', '-')}") from exc
        path = Path(package.__file__).parent / folder
    elif Path(hf_id).expanduser().is_dir():
        path = Path(hf_id).expanduser()
    elif hf_id.startswith((".", "/", "~")):
        raise ConfigError(f"model directory {hf_id} does not exist", "fix model.hf_id")
    else:
        path = _hub_snapshot(hf_id, revision)
    if not (path / "config.json").is_file():
        raise ConfigError(f"model {hf_id}: {path} has no config.json", "point model.hf_id at a model folder")
    return path


def _hub_snapshot(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision,
                                      allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt"]))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ConfigError(f"model {repo_id} is neither a local folder nor reachable or cached on the hub "
                          f"({type(exc).__name__})", "download it where the hub is reachable, or set model.hf_id "
                          "to a local copy") from exc


def load_model(settings: ModelSettings, runtime: RuntimeSettings) -> LoadedModel:
    """Load for inference in ``runtime.dtype`` on ``runtime.device`` (see the module docstring)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    device = require_device(runtime.device)
    dtype = DTYPES[runtime.dtype]
    folder = model_directory(settings.hf_id, settings.revision)
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    causal = any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in (config.architectures or []))
    loader = AutoModelForCausalLM if causal else AutoModel
    model = loader.from_pretrained(folder, local_files_only=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model.eval()
    _place(model, device)
    arch = architecture_of(model)
    hidden = int(getattr(config, "hidden_size", None) or getattr(config, "n_embd"))
    weights = {path.name: sha256_file(path) for path in sorted(folder.iterdir()) if path.suffix in _WEIGHT_SUFFIXES}
    provenance = {
        "hf_id": settings.hf_id, "revision": settings.revision, "folder": str(folder),
        "model_type": arch.model_type, "class": type(model).__name__, "n_layers": len(blocks_of(model, arch)),
        "hidden": hidden, "parameters": sum(p.numel() for p in model.parameters()),
        "weights_sha256": weights,
        "weights_digest": hashlib.sha256("".join(f"{k}:{v}\n" for k, v in weights.items()).encode()).hexdigest(),
        "dtype": runtime.dtype, "device": str(device), "demo": demo_reason(config),
    }
    max_positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return LoadedModel(model, tokenizer, arch, device, dtype, provenance["n_layers"], hidden, max_positions, provenance)


def _place(model: torch.nn.Module, device: torch.device) -> None:
    """Move every parameter and buffer to ``device``; on a GPU anything left behind is an error."""
    if device.type == "cpu":
        return
    try:
        model.to(device)
    except torch.cuda.OutOfMemoryError as exc:
        raise ConfigError("the model does not fit on the GPU, and CPU offload is not allowed",
                          "use a GPU with more memory, or --dtype bf16/fp16") from exc
    elsewhere = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()]
                 if tensor.device.type != device.type]
    if elsewhere:
        raise ConfigError(f"{len(elsewhere)} tensors of the model are not on the GPU (e.g. {elsewhere[0]})",
                          "the model must sit wholly on the GPU")
