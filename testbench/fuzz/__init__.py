"""Coverage-guided fuzzing of the loaders (`make fuzz`); targets.py is also replayed by the suite."""
