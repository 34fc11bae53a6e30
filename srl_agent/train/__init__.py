"""SRL training: the config (`config.py`), the GRPO step (`grpo.py`), the loop (`loop.py`), checkpoints and metrics."""
