"""`srl-agent eval --model RUN/final` evaluates in the prompt format the run was trained with."""

import argparse
import json

from srl_agent.commands.eval import _fill_from_training_run


def _args(**kw):
    base = {"model": None, "history": None, "max_observation_chars": None, "max_new_tokens": None}
    return argparse.Namespace(**{**base, **kw})


def test_training_run_settings_fill_unset_flags(tmp_path, capsys):
    (tmp_path / "final").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"history_window": 1, "max_observation_chars": 200, "max_completion_tokens": 128}))
    args = _args(model=str(tmp_path / "final"), max_new_tokens=64)
    _fill_from_training_run(args)
    assert (args.history, args.max_observation_chars, args.max_new_tokens) == (1, 200, 64)  # explicit flag wins
    assert "prompt settings from" in capsys.readouterr().err


def test_paper_defaults_without_a_training_run(tmp_path):
    args = _args(model="Qwen/Qwen2.5-Coder-7B-Instruct")
    _fill_from_training_run(args)
    assert (args.history, args.max_observation_chars, args.max_new_tokens) == (2, 4000, 1024)
    args = _args()  # scripted policies: no model
    _fill_from_training_run(args)
    assert args.history == 2
