"""The errors hardwire raises for bad input.

Every message names the file (or value) at fault, what was expected, what was
found, and how to fix it, so a user never has to read a traceback to act.
Catch `HardwireError` to catch them all.
"""
from __future__ import annotations


class HardwireError(Exception):
    """Base of every error hardwire raises on bad input."""


class CheckpointError(HardwireError):
    """A model file (llama2.c .bin, safetensors) is missing, malformed or truncated."""


class TokenizerError(HardwireError):
    """A tokenizer file is malformed, or does not fit the model or the text."""


class ConfigError(HardwireError):
    """A model configuration is unsupported or inconsistent."""


class InputError(HardwireError):
    """A run-time input is out of range (token id, position past the context, step count)."""


class BuildFolderError(HardwireError):
    """A build folder (`hardwire compile`'s output) lacks files or holds a malformed build.json."""
