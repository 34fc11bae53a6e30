"""The training config: the paper's defaults, overrides, and mistakes rejected with the fix."""

from __future__ import annotations

import pytest

from srl_agent.errors import UserError
from srl_agent.train.config import FIELDS, describe_fields, resolve_config
from srl_agent.train.grpo import group_advantages, token_weights


def test_paper_defaults():
    cfg = resolve_config()
    assert (cfg.lr, cfg.group_size, cfg.temperature, cfg.kl_coef, cfg.batch_size, cfg.max_grad_norm) == (5e-7, 8, 1.0, 0.0, 512, 1.0)
    assert cfg.loss_agg == "grpo" and cfg.dynamic_sampling and cfg.history_window == 2 and cfg.warmup_ratio == 0.0


def test_every_field_is_documented():
    assert all(f.metadata.get("help") for f in FIELDS.values())
    assert describe_fields().count("\n") == len(FIELDS) - 1


def test_priority_file_then_overrides_then_explicit(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[grpo]\ngroup_size = 4\nlr = 1e-5\nloss_agg = "dapo"\n')
    cfg = resolve_config(f, ["lr=3e-6", "dynamic_sampling=false"], steps=7)
    assert (cfg.group_size, cfg.lr, cfg.loss_agg, cfg.dynamic_sampling, cfg.steps) == (4, 3e-6, "dapo", False, 7)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["learning_rate=1e-6"], "unknown config key 'learning_rate'"),
        (["lrr=1e-6"], "did you mean 'lr'"),
        (["lr=fast"], "lr in the command line must be a float"),
        (["group_size=1"], "group_size must be >= 2"),
        (["loss_agg=token"], "choose one of: grpo, dr_grpo, dapo"),
        (["dynamic_sampling=maybe"], "must be true or false"),
        (["lr"], "expected key=value"),
        (["warmup_ratio=1.5"], "warmup_ratio must be < 1"),
        (["format_penalty=0.5"], "format_penalty must be <= 0"),
    ],
)
def test_mistakes_are_rejected_with_the_fix(overrides, message):
    with pytest.raises(UserError, match=message):
        resolve_config(overrides=overrides)


def test_bad_config_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("group_size = 'eight'\n")
    with pytest.raises(UserError, match="group_size in .*bad.toml must be an int"):
        resolve_config(f)
    f.write_text("lr = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        resolve_config(f)
    with pytest.raises(UserError, match="does not exist"):
        resolve_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", ["srl.toml", "sft.toml", "rlvr.toml", "srl_to_rlvr.toml", "tiny_cpu.toml",
                                  "tiny_cpu_rlvr.toml", "smollm2_cpu.toml"])
def test_method_keys_stay_flat_and_are_read_through_grouped_views(name, tmp_path):
    """The shipped configs load as they are (flat keys); each method's keys come back grouped and typed, and a run's
    flat config.json rebuilds the same views (eval reads it)."""
    import json
    from importlib import resources

    from srl_agent.train.config import TrainConfig, run_config
    from srl_agent.train.settings import RLVRSettings, SFTBaselineSettings, WarmStartSettings

    cfg = resolve_config(resources.files("srl_agent.configs").joinpath(name))
    ws, sft, rl = cfg.warm_start, cfg.sft_baseline, cfg.rlvr
    assert isinstance(ws, WarmStartSettings) and isinstance(sft, SFTBaselineSettings) and isinstance(rl, RLVRSettings)
    assert (ws.steps, ws.lr, ws.batch_size, ws.think) == (cfg.sft_steps, cfg.sft_lr, cfg.sft_batch_size, cfg.sft_think)
    assert (sft.epochs, sft.steps, sft.batch_size) == (cfg.epochs, cfg.steps, cfg.batch_size)
    assert (rl.bench, rl.split, rl.overlong, rl.workers, rl.docker_hosts) == (cfg.bench, cfg.split, cfg.overlong,
                                                                              cfg.workers, cfg.docker_hosts)
    assert (rl.command_timeout_s, rl.grade_timeout_s, rl.agent) == (cfg.command_timeout_s, cfg.grade_timeout_s, cfg.agent)
    assert "warm_start" not in cfg.to_dict() and "rlvr" not in cfg.to_dict()  # config.json stays flat
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    again = run_config(tmp_path)
    assert isinstance(again, TrainConfig) and (again.warm_start, again.sft_baseline, again.rlvr) == (ws, sft, rl)


def test_sft_baseline_schedule_and_flat_key_errors():
    cfg = resolve_config(method="sft", overrides=["epochs=3", "batch_size=4"])
    assert cfg.sft_baseline.schedule(10) == (4, 9)  # 3 epochs x ceil(10 / 4)
    assert cfg.sft_baseline.schedule(2) == (2, 3)  # fewer trajectories than a batch: one step per epoch
    assert resolve_config(method="sft", overrides=["epochs=0", "steps=5"]).sft_baseline.schedule(10) == (10, 5)
    # Validation names the key the user typed, not the view's field.
    with pytest.raises(UserError, match="sft_batch_size must be > 0"):
        resolve_config(overrides=["sft_batch_size=0"])
    with pytest.raises(UserError, match="overlong='drop' is not valid"):
        resolve_config(method="rlvr", overrides=["overlong=drop"])


def test_group_advantages():
    (adv,) = group_advantages([[1.0, 0.0, 0.5, 0.5]], scale=True)
    assert abs(sum(adv)) < 1e-9 and adv[0] > 0 > adv[1] and adv[2] == adv[3] == 0
    (raw,) = group_advantages([[1.0, 0.0]], scale=False)
    assert raw == [0.5, -0.5]


def test_token_weights_match_their_aggregation():
    lens = [2, 8]
    grpo = token_weights(lens, "grpo", 16)  # each sequence sums to 1/N
    assert [w * n for w, n in zip(grpo, lens, strict=True)] == [0.5, 0.5]
    dapo = token_weights(lens, "dapo", 16)  # all tokens equal, sum to 1
    assert sum(w * n for w, n in zip(dapo, lens, strict=True)) == pytest.approx(1.0) and dapo[0] == dapo[1]
    dr = token_weights(lens, "dr_grpo", 16)
    assert dr == [1 / 32, 1 / 32]
