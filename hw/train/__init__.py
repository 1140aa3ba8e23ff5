"""Training of hardwire's default model: story corpus, BPE tokenizer, numpy trainer.

Only `python -m hw.train.train` (or `make train`) uses this package; the
committed models/default/ files mean nobody needs to run it.
"""
