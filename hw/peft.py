"""PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) for llama.

`read_peft(folder, config)` reads the folder PEFT's `save_pretrained` writes
for a LlamaForCausalLM and returns float (A, B, scaling) per (layer, target)
in hardwire's row order; `peft_to_int` turns them into the integer adapters
the golden model and the LoRA hardware run (hw.lora.lora_from_float).

Keys, as PEFT writes them (the adapter name is stripped on save):

    base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight
    base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight

lora_A is (r, in), lora_B (out, r); PEFT adds scaling * B @ A to the weight,
scaling = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), r and alpha
per module from rank_pattern / alpha_pattern when they name it.

Adapters are trained on Hugging Face llama weights, whose q_proj/k_proj rows
are in rotate_half order; hardwire's are in adjacent-pair order
(hw/frontend/hf_folder.py permutes them on load). B's rows are the output rows
of the projection, so they get the same permutation; A (the input side) is
unchanged, and so are all other projections.

Anything that would change the arithmetic in a way hardwire does not run
(DoRA, trained biases, fan_in_fan_out, modules_to_save, embedding or lm_head
adapters, an unknown option set to a value) is refused by name: an adapter
is never loaded in part.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.jsonfile import check_type, read_json, short
from hw.architecture import layer_shapes
from hw.errors import CheckpointError, HardwireError
from hw.golden import LoraInt
from hw.intmodel import IntModel
from hw.lora import lora_from_float
from hw.model import ModelConfig
from hw.frontend.hf_folder import LAYER_NAMES, hf_to_llama2c_rows, read_header, read_tensor

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
MAX_CONFIG_BYTES = 1 << 20          # real configs are ~1 kB

# HF module name (q_proj, ...) -> hardwire target (wq, ...), from the loader's names (one source)
HF_TARGETS = {LAYER_NAMES[t].split(".")[1]: t for t in ("wq", "wk", "wv", "wo", "w1", "w3", "w2")}
ROPE_HEADS = {"wq": "n_heads", "wk": "n_kv_heads"}     # targets whose rows the loader permutes

_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")

# adapter_config.json fields that do not change the adapter's arithmetic at inference
_BENIGN = {"base_model_name_or_path", "revision", "task_type", "inference_mode", "lora_dropout",
           "init_lora_weights", "auto_mapping", "peft_version", "layers_to_transform", "layers_pattern",
           "exclude_modules", "loftq_config", "eva_config", "corda_config", "runtime_config",
           "qalora_group_size", "ensure_weight_tying"}
# fields hardwire reads
_READ = {"peft_type", "r", "lora_alpha", "use_rslora", "target_modules", "rank_pattern", "alpha_pattern",
         "fan_in_fan_out", "bias", "use_dora", "lora_bias", "modules_to_save", "layer_replication",
         "megatron_config", "megatron_core", "trainable_token_indices", "target_parameters", "use_qalora",
         "alora_invocation_tokens", "arrow_config"}
# options refused when set (not false / null / empty / their default): what they would need
_REFUSED = {
    "use_dora": "DoRA (a per-column magnitude vector) is not LoRA arithmetic; train without use_dora",
    "lora_bias": "a trained bias on lora_B; the LoRA hardware has no bias, train with lora_bias=false",
    "fan_in_fan_out": "it describes Conv1D (GPT-2 style) weights; llama's Linear layers need false",
    "modules_to_save": "fully retrained modules (e.g. lm_head) are weights, and hardwire's weights are ROMs; "
                       "train with modules_to_save=null",
    "layer_replication": "it duplicates layers, which changes the hardwired model",
    "trainable_token_indices": "it retrains embedding rows, which are ROMs",
    "target_parameters": "it adapts raw parameters, not the projections hardwire adapts",
    "use_qalora": "QA-LoRA pools the input; hardwire runs plain LoRA",
    "alora_invocation_tokens": "activated LoRA switches on at a token; hardwire's adapter is always on",
    "arrow_config": "Arrow routes between adapters per token; load one adapter",
}


class PeftError(HardwireError):
    """A PEFT adapter folder that is malformed or does not fit the model or the build."""


@dataclass(frozen=True)
class FloatLora:
    """One projection's adapter in hardwire's row order: delta W = scaling * B @ A."""
    A: np.ndarray           # (r, in)
    B: np.ndarray           # (out, r), rows permuted like the base weight's
    scaling: float

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])


@dataclass
class PeftAdapter:
    """A PEFT LoRA folder, read: {(layer, target): FloatLora} and where it came from."""
    path: Path
    base_model: str | None
    modules: dict[tuple[int, str], FloatLora] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return max((m.rank for m in self.modules.values()), default=0)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({t for _, t in self.modules}))


def _pattern_value(pattern: dict, module: str, default, kind: str, where: str):
    """PEFT's rank_pattern / alpha_pattern lookup: the first key that matches the module name's tail."""
    for key, value in pattern.items():
        try:
            hit = re.match(rf"(.*\.)?{key}$", module)
        except re.error as exc:
            raise PeftError(f"{where}: key {short(key)} is not a regular expression ({exc})") from exc
        if hit:
            return check_type(value, kind, f"{where}[{short(key)}]", PeftError)
    return default


def _read_config(folder: Path) -> dict:
    path = folder / CONFIG_NAME
    hint = "it is written by PEFT's save_pretrained"
    cfg = read_json(path, PeftError, MAX_CONFIG_BYTES, what=CONFIG_NAME, hint=hint,
                    missing=f"{folder}: no {CONFIG_NAME}; a PEFT adapter folder holds {CONFIG_NAME} and "
                            f"{WEIGHTS_NAME} (model.save_pretrained(folder) on a PeftModel)")
    check_type(cfg, "object", str(path), PeftError, hint=hint)
    peft_type = cfg.get("peft_type")
    if peft_type != "LORA":
        raise PeftError(f"{path}: peft_type {short(peft_type)}; hardwire loads LoRA adapters (peft_type "
                        "\"LORA\") only")
    for key, why in _REFUSED.items():
        if cfg.get(key) not in (None, False, [], {}, ""):
            raise PeftError(f"{path}: {key}={short(cfg[key])} is not supported: {why}")
    if cfg.get("bias", "none") != "none":
        raise PeftError(f"{path}: bias={short(cfg['bias'])} is not supported: the adapter trained biases, "
                        "and hardwire's projections have none; train with bias=\"none\"")
    for key in ("megatron_config", "megatron_core"):
        if cfg.get(key) not in (None, "megatron.core"):
            raise PeftError(f"{path}: {key}={short(cfg[key])}: Megatron-parallel layers are not llama's "
                            "Linear layers; export the adapter from a Hugging Face llama model")
    init = cfg.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(("pissa", "olora", "corda", "loftq")):
        raise PeftError(f"{path}: init_lora_weights={short(init)}: that initialisation subtracts the adapter "
                        "from the base weights, which are hardwired; convert it to a plain LoRA with PEFT's "
                        "save_pretrained(..., path_initial_model_for_weight_conversion=...)")
    unknown = sorted(k for k, v in cfg.items() if k not in _BENIGN | _READ and v not in (None, False, [], {}, ""))
    if unknown:
        raise PeftError(f"{path}: unknown option(s) {', '.join(unknown)} set; hardwire does not know what "
                        "they change, so it does not load the adapter. Set them to null/false if they do "
                        "not change inference, or export the adapter without them")
    check_type(cfg.get("r"), "int", f"{path}: r", PeftError, hint=hint)
    check_type(cfg.get("lora_alpha"), "number", f"{path}: lora_alpha", PeftError, hint=hint)
    check_type(cfg.get("use_rslora", False), "bool", f"{path}: use_rslora", PeftError, hint=hint)
    for key in ("rank_pattern", "alpha_pattern"):
        check_type(cfg.get(key) or {}, "object", f"{path}: {key}", PeftError, hint=hint)
    return cfg


def _check_target_modules(cfg: dict, path: Path) -> set[str] | None:
    """The HF module names target_modules lists (None: a regex or "all-linear", the tensors decide)."""
    mods = cfg.get("target_modules")
    if isinstance(mods, str):
        return None
    check_type(mods, "list", f"{path}: target_modules", PeftError)
    bad = [m for m in mods if not isinstance(m, str) or m not in HF_TARGETS]
    if bad:
        raise PeftError(f"{path}: target_modules {', '.join(map(short, bad))} cannot be adapted: hardwire "
                        f"adapts llama's {', '.join(HF_TARGETS)} (embeddings, norms and lm_head are ROMs)")
    return set(mods)


def _expected_shape(config: ModelConfig, target: str) -> tuple[int, int]:
    return layer_shapes(config)[target]


def read_peft(folder: str | Path, config: ModelConfig) -> PeftAdapter:
    """Read a PEFT LoRA folder for a llama model of `config`; refuse anything that does not fit."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PeftError(f"{folder}: not a folder; a PEFT adapter is a folder with {CONFIG_NAME} and "
                        f"{WEIGHTS_NAME}")
    cfg = _read_config(folder)
    cpath = folder / CONFIG_NAME
    listed = _check_target_modules(cfg, cpath)
    wpath = folder / WEIGHTS_NAME
    if not wpath.is_file():
        pickled = [p.name for p in folder.glob("adapter_model.bin")]
        raise PeftError(f"{folder}: no {WEIGHTS_NAME}" + (
            " (adapter_model.bin is a pickle, never loaded: unpickling runs code; save with "
            "safe_serialization=True)" if pickled else ""))
    try:
        refs = read_header(wpath)
    except CheckpointError as exc:
        raise PeftError(str(exc)) from exc
    halves: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for name, ref in refs.items():
        m = _KEY.match(name)
        if m is None:
            raise PeftError(f"{wpath}: tensor {short(name)} is not a llama LoRA weight "
                            "(base_model.model.model.layers.N.{self_attn,mlp}.X_proj.lora_{A,B}.weight): "
                            + ("embedding / lm_head adapters are not supported, their weights are ROMs"
                               if "embed" in name or "lm_head" in name else
                               "DoRA magnitudes, biases and other modules are not supported"))
        layer, group, module, half = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        target = HF_TARGETS.get(module)
        if target is None or LAYER_NAMES[target].split(".")[0] != group:
            raise PeftError(f"{wpath}: tensor {short(name)} adapts {group}.{module}, which hardwire cannot "
                            f"adapt; it adapts {', '.join(HF_TARGETS)}")
        if listed is not None and module not in listed:
            raise PeftError(f"{wpath}: tensor {short(name)} adapts {module}, which target_modules "
                            f"({', '.join(sorted(listed))}) does not list; the folder is inconsistent")
        if not 0 <= layer < config.n_layers:
            raise PeftError(f"{wpath}: tensor {short(name)} is for layer {layer}, but the base model has "
                            f"{config.n_layers} layers (0..{config.n_layers - 1}): the adapter was trained "
                            "on another model")
        halves.setdefault((layer, target), {})[half] = read_tensor(ref).astype(np.float64)
    if not halves:
        raise PeftError(f"{wpath}: no LoRA weights in the file")
    out = PeftAdapter(folder, cfg.get("base_model_name_or_path"))
    r_default, alpha_default = cfg["r"], float(cfg["lora_alpha"])
    for (layer, target), ab in sorted(halves.items()):
        module = f"model.layers.{layer}.{LAYER_NAMES[target].rsplit('.', 1)[0]}"
        if set(ab) != {"A", "B"}:
            missing = "lora_B" if "A" in ab else "lora_A"
            raise PeftError(f"{wpath}: {module} has no {missing}.weight; the file is incomplete")
        A, B = ab["A"], ab["B"]
        rows, cols = _expected_shape(config, target)
        r = _pattern_value(cfg.get("rank_pattern") or {}, module, r_default, "int", f"{cpath}: rank_pattern")
        alpha = float(_pattern_value(cfg.get("alpha_pattern") or {}, module, alpha_default, "number",
                                     f"{cpath}: alpha_pattern"))
        if A.shape != (r, cols) or B.shape != (rows, r):
            raise PeftError(f"{wpath}: {module}: lora_A {A.shape} and lora_B {B.shape}, but rank {r} on a "
                            f"({rows} x {cols}) projection needs ({r}, {cols}) and ({rows}, {r}): the adapter "
                            "was trained on a model of other dimensions, or r in the config is wrong")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
            raise PeftError(f"{wpath}: {module}: the weights hold NaN or infinity")
        scaling = alpha / (math.sqrt(r) if cfg.get("use_rslora") else r)
        if target in ROPE_HEADS:
            B = hf_to_llama2c_rows(B, getattr(config, ROPE_HEADS[target]))
        out.modules[(layer, target)] = FloatLora(A, B, scaling)
    return out


def check_fits(adapter: PeftAdapter, rank: int | None = None, targets: tuple[str, ...] | None = None) -> None:
    """Refuse an adapter the LoRA hardware of a build (rank, targets) cannot hold, naming what differs."""
    if targets is not None:
        extra = sorted(set(adapter.targets) - set(targets))
        if extra:
            hf = {t: m for m, t in HF_TARGETS.items()}
            raise PeftError(f"{adapter.path}: the adapter adapts {', '.join(f'{hf[t]} ({t})' for t in extra)}, "
                            f"but the build's LoRA hardware adapts only {', '.join(targets) or 'nothing'}; "
                            f"rebuild with --lora-targets {','.join(sorted(set(targets) | set(extra)))}")
    if rank is not None and adapter.rank > rank:
        raise PeftError(f"{adapter.path}: rank {adapter.rank} is beyond the build's LoRA rank {rank}; "
                        f"rebuild with --lora-rank {adapter.rank} or train with r <= {rank}")


def peft_to_int(adapter: PeftAdapter, int_model: IntModel) -> dict[tuple[int, str], LoraInt]:
    """Integer adapters for the golden model and the device (scaling folded into alpha)."""
    out = {}
    for (layer, target), m in adapter.modules.items():
        # lora_from_float scales by alpha / rank: pass the alpha that gives PEFT's scaling
        out[(layer, target)] = lora_from_float(int_model, layer, target, m.A, m.B, m.scaling * m.rank)
    return out


def load_peft(folder: str | Path, int_model: IntModel, rank: int | None = None,
              targets: tuple[str, ...] | None = None) -> dict[tuple[int, str], LoraInt]:
    """read_peft + check_fits + peft_to_int: the integer adapters of a PEFT folder for `int_model`."""
    if not int_model.scales:
        raise PeftError(f"{folder}: the integer model {int_model.meta.get('source', '')} carries no float "
                        "scales, which the conversion of a float adapter needs; quantize it with "
                        "`hardwire quantize` (it records them)")
    adapter = read_peft(folder, int_model.config)
    check_fits(adapter, rank, targets)
    return peft_to_int(adapter, int_model)
