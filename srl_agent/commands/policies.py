"""The policy a command runs, from its flags: `--model` (a checkpoint, a built-in model or `openai:NAME` behind an
OpenAI-compatible API), `--policy gold|expert|empty`, or `--predictions FILE`; shared by `eval` and `record`.
Heavy imports stay inside the functions (`srl-agent --help` must stay instant)."""

from __future__ import annotations

import argparse


def add_api_args(p: argparse.ArgumentParser, seed: bool = False) -> None:
    """Options of `--model openai:NAME` (srl_agent.agent.api_policy); shared with `srl-agent record`."""
    g = p.add_argument_group("served models (--model openai:NAME)")
    g.add_argument("--base-url", help="the API's base URL, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL, "
                   "else OpenAI's)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key (never "
                   "written anywhere; default: OPENAI_API_KEY)")
    g.add_argument("--api-mode", choices=("text", "tools"), default="text", help="text: the SRL <think> + <function=…> "
                   "format in the reply; tools: native tool calling (bash, str_replace_editor, submit) (default: text)")
    g.add_argument("--tool-choice", choices=("auto", "required"), default="auto", help="tools mode: let the model "
                   "answer without a call (auto) or force one (required)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (default: the server's)")
    if seed:  # eval has its own --seed (the same meaning for every --model)
        g.add_argument("--seed", type=int, help="sampling seed sent with each request (turn t uses seed + t)")
    g.add_argument("--api-timeout", type=float, default=300.0, help="seconds per request before it is retried "
                   "(default: 300)")
    g.add_argument("--api-retries", type=int, default=4, help="retries of a request on 408/409/429/5xx, timeouts and "
                   "connection errors, with exponential backoff (default: 4)")
    g.add_argument("--price", type=float, nargs=2, metavar=("IN", "OUT"), help="USD per million prompt / completion "
                   "tokens: each episode's cost is recorded")


def api_policy(args: argparse.Namespace, name: str):
    from srl_agent.agent.api_policy import ApiPolicy, ApiSettings

    settings = ApiSettings(model=name, mode=args.api_mode, temperature=args.temperature, top_p=args.top_p,
                           max_tokens=args.max_new_tokens, seed=args.seed, timeout_s=args.api_timeout,
                           max_retries=args.api_retries, tool_choice=args.tool_choice)
    return ApiPolicy(settings, base_url=args.base_url, api_key_env=args.api_key_env,
                     price_per_mtok=tuple(args.price) if args.price else None)



def eval_policy(args: argparse.Namespace):
    from srl_agent.agent import policies

    if args.predictions:
        from srl_agent.evaluate.predictions import load_predictions

        return load_predictions(args.predictions)
    if args.policy == "gold":
        return policies.GoldPolicy()
    if args.policy == "empty":
        return policies.EmptyPolicy()
    if args.policy == "expert":
        return policies.ExpertPolicy.from_file(args.trajectories)
    if args.model.startswith("openai:"):
        return api_policy(args, args.model.removeprefix("openai:"))
    return policies.ModelPolicy.load(args.model, dtype=args.dtype, max_new_tokens=args.max_new_tokens,
                                     temperature=args.temperature, engine=args.engine, seed=args.seed)


def context_limit(policy, args: argparse.Namespace) -> int:
    """The model's context window minus the completion budget (at most 32768); 32768 for scripted policies."""
    limit = getattr(getattr(getattr(policy, "model", None), "config", None), "max_position_embeddings", None)
    return min(32768, limit - args.max_new_tokens) if limit else 32768
