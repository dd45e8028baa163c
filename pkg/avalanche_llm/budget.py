"""The GPU budget of seed 002: GPU-hours estimated from the config, checked before anything is queued.

``runlab submit`` (and so every phase command) hands :func:`check_gpu_budget` the runs of GPU stages
it is about to start (the manifest's ``gpu_budget``). Each is estimated from its config alone, in
GPU-hours: ``gpus x tasks x job_overhead_min / 60`` plus ``gpus x 2 x parameters x tokens /
(sustained_tflops x 1e12) / 3600`` (an inference-only forward costs about 2 FLOPs per parameter and
token), with the tokens the stage forwards counted from the config. A run on ``runtime.device: cpu``
uses no GPU and is not counted. Over ``gpu_hours`` of ``configs/budgets.yaml``: one line, exit 2, nothing
run or queued. spec/22_GPU_BUDGET.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from runlab import ConfigError, GpuRun, load_yaml_file, resolve_config_data

from .canon import load_canon, project_root
from .config import StudySettings

__all__ = ["Budget", "check_gpu_budget", "estimate_gpu_hours", "forwarded_tokens", "load_budget", "model_parameters"]

BUDGET_FILE = Path("configs") / "budgets.yaml"


@dataclass(frozen=True)
class Budget:
    """``configs/budgets.yaml``'s ``avalanche_llm`` section, CANON references resolved."""

    gpu_hours: float
    sustained_tflops: float
    job_overhead_min: float
    arc_request_tokens: int
    arc_items: Mapping[str, Mapping[str, int]]  # ARC config -> split -> items
    arc_choices_per_item: int
    model_parameters: Mapping[str, int]  # hub id -> parameters


def load_budget(path: Path | None = None) -> Budget:
    """The budget file (default ``configs/budgets.yaml`` of the project); a missing or bad key is exit 2."""
    path = path or project_root() / BUDGET_FILE
    data = resolve_config_data(load_yaml_file(path, "budget file"), load_canon(), None, f"budget file {path}").data
    section = data.get("avalanche_llm") if isinstance(data, Mapping) else None
    fields = Budget.__dataclass_fields__
    if not isinstance(section, Mapping) or set(section) != set(fields):
        raise ConfigError(f"budget file {path}: the avalanche_llm section must hold exactly {', '.join(fields)}",
                          "fix configs/budgets.yaml")
    budget = Budget(**section)
    if not (budget.gpu_hours >= 0 and budget.sustained_tflops > 0 and budget.job_overhead_min >= 0):
        raise ConfigError(f"budget file {path}: gpu_hours >= 0, sustained_tflops > 0 and job_overhead_min >= 0 "
                          f"are required", "fix configs/budgets.yaml")
    return budget


def model_parameters(hf_id: str, budget: Budget) -> int:
    """Parameters of ``model.hf_id``: from the budget's table for a hub id, else counted from the local
    folder's ``config.json`` (the model built on the meta device: no weights are read)."""
    if hf_id in budget.model_parameters:
        return int(budget.model_parameters[hf_id])
    from .model.loader import PACKAGE_PREFIX, model_directory

    if not (hf_id.startswith(PACKAGE_PREFIX) or Path(hf_id).expanduser().is_dir()):
        raise ConfigError(f"GPU budget: model {hf_id} is neither a local folder nor in model_parameters of "
                          f"{BUDGET_FILE}", f"add `{hf_id}: <parameter count>` under model_parameters there")
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_directory(hf_id, None), local_files_only=True)
    causal = any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in (config.architectures or []))
    with torch.device("meta"):
        model = (AutoModelForCausalLM if causal else AutoModel).from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


def forwarded_tokens(tag: str, config: Mapping[str, Any], budget: Budget) -> int:
    """Tokens stage ``tag`` passes through the model for ``config``, all tasks together (0: not a model stage)."""
    settings = StudySettings.from_config(config)
    text, gains = settings.text, len(settings.gain.values)
    if tag == "S01":  # the baseline windows
        return text.baseline_sequences * text.sequence_tokens
    if tag in ("S02", "S06B"):  # the analysis windows at every gain
        return gains * text.analysis_sequences * text.sequence_tokens
    if tag == "S06ARC":  # every (item, choice) request at every gain
        arc = settings.require_behaviour().arc
        items = arc.max_items or budget.arc_items.get(arc.config, {}).get(arc.split)
        if items is None:
            raise ConfigError(f"GPU budget: the number of ARC items of {arc.config}/{arc.split} is unknown",
                              f"set behaviour.arc.max_items, or add it under arc_items in {BUDGET_FILE}")
        return gains * items * budget.arc_choices_per_item * budget.arc_request_tokens
    return 0


def estimate_gpu_hours(run: GpuRun, budget: Budget, parameters: int) -> float:
    """GPU-hours of one run (all its array tasks) of a model with ``parameters`` parameters, on GPUs."""
    flops = 2.0 * parameters * forwarded_tokens(run.tag, run.config, budget)
    compute_h = flops / (budget.sustained_tflops * 1e12) / 3600.0
    return run.gpus * (run.tasks * budget.job_overhead_min / 60.0 + compute_h)


def check_gpu_budget(runs: Sequence[GpuRun], budget: Budget | None = None) -> str:
    """The line ``runlab submit`` says when the GPU runs among ``runs`` (``runtime.device: cuda``) fit the budget
    ("" when none runs on a GPU); ConfigError (exit 2) naming the estimate and the budget when they do not."""
    on_gpu = [run for run in runs if StudySettings.from_config(run.config).runtime.device == "cuda"]
    if not on_gpu:
        return ""
    budget = budget or load_budget()
    parameters: dict[str, int] = {}
    by_stage: dict[str, float] = {}
    for run in on_gpu:
        hf_id = StudySettings.from_config(run.config).model.hf_id
        if hf_id not in parameters:
            parameters[hf_id] = model_parameters(hf_id, budget)
        by_stage[run.tag] = by_stage.get(run.tag, 0.0) + estimate_gpu_hours(run, budget, parameters[hf_id])
    total = math.fsum(by_stage.values())
    parts = ", ".join(f"{tag} {hours:.2f}" for tag, hours in by_stage.items())
    if total > budget.gpu_hours:
        raise ConfigError(f"GPU budget: this submission would queue ~{total:.2f} GPU-hours ({parts}), over the "
                          f"budget of {budget.gpu_hours:g} GPU-hours ({BUDGET_FILE})",
                          "submit fewer configs, gains or items, or raise the budget there")
    return f"GPU budget: ~{total:.2f} of {budget.gpu_hours:g} GPU-hours ({parts})"
