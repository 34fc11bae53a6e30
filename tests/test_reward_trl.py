"""The reward plugs into TRL's GRPOTrainer unchanged: a real (tiny) GRPO step on real SRL instances."""

import pytest

pytest.importorskip("trl")


def test_trl_grpo_trainer_calls_the_srl_reward(traj_dir, tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from srl_agent.data.instances import trajectory_instances
    from srl_agent.models.tiny import tiny_model, tiny_tokenizer
    from srl_agent.readers import read_trajectories
    from srl_agent.reward import make_trl_reward

    torch.set_num_threads(1)
    traj = next(iter(read_trajectories([traj_dir / "swe-smith" / "hf_swe-smith-trajectories_sample5.json"])))
    rows = [inst.to_row() for inst in trajectory_instances(traj)][:4]
    dataset = Dataset.from_list(rows)

    srl = make_trl_reward()
    seen: list[tuple[int, list[float]]] = []

    def srl_reward(completions, **kwargs):  # the real reward, recording what TRL passed and got back
        rewards = srl(completions, **kwargs)
        seen.append((len(kwargs["expert_action"]), rewards))
        return rewards

    tokenizer = tiny_tokenizer()
    config = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=tiny_model(tokenizer),
        processing_class=tokenizer,
        reward_funcs=[srl_reward],
        args=config,
        train_dataset=dataset,
    )
    try:
        trainer.train()
    finally:
        # TRL's Trainer initialises accelerate's process-global state; leave none behind for other tests.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    assert seen, "TRL never called the reward"
    n, rewards = seen[0]
    assert n == len(rewards) == 4
    # 8 random tokens are never "<think>…</think> + one function call": every completion gets the format penalty.
    assert rewards == [-1.0] * 4
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert logged and logged[0]["reward"] == -1.0
