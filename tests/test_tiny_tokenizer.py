"""The tiny tokenizer gives the same ids after save + AutoTokenizer reload (a saved tiny model reloads as Qwen2)."""

from pathlib import Path

from srl_agent.models.tiny import tiny_model, tiny_tokenizer


def test_ids_survive_save_and_reload(tmp_path):
    from transformers import AutoTokenizer

    from srl_agent.readers import read_trajectories

    tok = tiny_tokenizer()
    tok.save_pretrained(tmp_path)
    tiny_model(tok).save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["\n\n", "a  b\n\n\ncd", "héllo wörld 123456", "\tx = 1  # comment\r\n", "<think>x</think>\n<function=bash>"]
    for traj in read_trajectories([Path(__file__).resolve().parents[1] / "trajectories" / "sample.jsonl"]):
        texts += [traj.problem_statement] + [s.observation for s in traj.steps] + [s.thought for s in traj.steps]
    for text in texts:
        assert reloaded(text)["input_ids"] == tok(text)["input_ids"], text[:60]
    messages = [{"role": "user", "content": texts[1]}]
    assert reloaded.apply_chat_template(messages, add_generation_prompt=True) == tok.apply_chat_template(messages, add_generation_prompt=True)
    assert reloaded.padding_side == "left" and reloaded.eos_token == tok.eos_token
