"""Policies: the built-in tiny model (`tiny.py`) and loading any causal LM, with LoRA or full fine-tuning (`load.py`)."""
