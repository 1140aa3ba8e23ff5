"""The frontend: float checkpoints in, a checked FloatModel (and its tokenizer) out.

    registry.py   load(path): the format that claims the path reads it; the tokenizer found once
    checks.py     the config, tensor-set and finite-value checks every format runs
    llama2c.py    llama2.c legacy version-0 .bin (load and save)
    hf_folder.py  Hugging Face llama folders: config.json, *.safetensors, tokenizer.json

Every command that takes a checkpoint goes through `load`; a new format is a
module here and one row in registry.FORMATS.
"""
from hw.frontend.registry import FORMATS, Checkpoint, find_tokenizer, load

__all__ = ["FORMATS", "Checkpoint", "find_tokenizer", "load"]
