"""The API policy: a model behind an OpenAI-compatible chat API (vLLM, SGLang, TGI, llama.cpp's server, hosted
providers) writes the agent's turns. `--model openai:NAME`, `--base-url URL` (else $OPENAI_BASE_URL), key from the
environment ($OPENAI_API_KEY, or the variable named by `api_key_env`), held in memory only.

Two action modes:
    text   the SRL format: the prompt as `build_messages` makes it; the reply's text is what the loop parses
           (`<think>…</think>` + one `<function=…>` call)
    tools  native tool calling: the tools bash / str_replace_editor / submit as JSON schemas (SWE-agent's and
           OpenHands' names), the history as assistant tool_calls + tool results; the reply's first tool call is
           rendered in the canonical in-text form with the reply's text as the thought, so the loop, the episodes and
           the recorded trajectories see one format whatever the mode

Failures: the openai SDK retries 408/409/429/5xx answers and connection errors with exponential backoff (0.5 s
doubling to 8 s, honouring Retry-After) `max_retries` times, and gives up on a request after `timeout_s`. What still
fails raises `ApiError`, which the loop records as the episode's infrastructure error (never an empty patch).
`ApiError` messages are built here and never carry the key; the SDK's exception chain is dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from srl_agent.actions import ActionParseError, action_from_call, action_params, parse_action, tool_name
from srl_agent.agent.policies import Completion, PolicyRequest, scripted
from srl_agent.answer import render_completion
from srl_agent.errors import UserError

PREFIX = "openai:"
ApiMode = Literal["text", "tools"]

_STR = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "bash", "description": "Run a shell command in the repository's sandbox (working directory /testbed).",
        "parameters": {"type": "object", "properties": {"command": {**_STR, "description": "the command"}},
                       "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "str_replace_editor",
        "description": "View, create and edit files. view: a file (cat -n) or a directory; create: a new file with "
        "file_text; str_replace: replace old_str (must match exactly once) by new_str; insert: new_str after line "
        "insert_line; undo_edit: revert the last edit of path.",
        "parameters": {"type": "object", "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {**_STR, "description": "absolute path"}, "file_text": _STR, "old_str": _STR, "new_str": _STR,
            "insert_line": {"type": "integer"},
            "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
            "required": ["command", "path"]}}},
    {"type": "function", "function": {
        "name": "submit", "description": "Finish: your changes to the repository are the solution.",
        "parameters": {"type": "object", "properties": {}}}},
]

TOOLS_SYSTEM_PROMPT = """\
You are a software engineer fixing an issue in a code repository checked out at /testbed. You act one step at a time
with the tools bash, str_replace_editor and submit. In every turn, first explain your reasoning in the message text,
then call exactly ONE tool. Give only the very next action, not the whole solution. Call submit when the issue is fixed."""


class ApiError(RuntimeError):
    """A request that failed after the SDK's retries (the message names the server, never the key)."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How the API is called: recorded with every trajectory (the sampling settings) and in the run's options."""

    model: str
    mode: ApiMode = "text"
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int = 1024
    seed: int | None = None
    timeout_s: float = 120.0
    max_retries: int = 4
    tool_choice: str = "auto"  # tools mode: "auto" or "required" (vLLM: guided decoding forces a valid call)


def model_name(spec: str) -> str | None:
    """`openai:NAME` -> NAME; None for anything else (a local model)."""
    return spec[len(PREFIX):] if spec.startswith(PREFIX) else None


class ApiPolicy:
    """`Policy` over an OpenAI-compatible endpoint; one request per turn (the server batches concurrent episodes)."""

    batched = False  # every episode thread calls on its own: the server does the batching

    def __init__(self, settings: ApiSettings, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 price_per_mtok: tuple[float, float] | None = None):
        from openai import OpenAI

        if settings.mode not in ("text", "tools"):
            raise UserError(f"--api-mode must be 'text' or 'tools', got {settings.mode!r}")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = os.environ.get(api_key_env)
        if not key and not base_url:
            raise UserError(f"--model {PREFIX}{settings.model}: set ${api_key_env} (the API key), or --base-url for a "
                            "server that needs none (e.g. a local vLLM)")
        self.settings, self.name, self.base_url = settings, settings.model, base_url or "https://api.openai.com/v1"
        self.price_per_mtok = price_per_mtok
        # A local server without --api-key accepts any key; the SDK insists on one.
        self._client = OpenAI(base_url=base_url, api_key=key or "EMPTY", timeout=settings.timeout_s,
                              max_retries=settings.max_retries)

    def __repr__(self) -> str:  # never the client (it holds the key)
        return f"ApiPolicy({self.settings!r}, base_url={self.base_url!r})"

    @property
    def sampling(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self.settings).items() if k not in ("model", "timeout_s", "max_retries")}

    def reseed(self, seed: int) -> None:
        """`eval --runs N`: run k samples with seed SEED + k."""
        self.settings = replace(self.settings, seed=seed)

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return None  # no tokenizer here: an over-long prompt is the server's 400, recorded as the episode's error

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_per_mtok is None:
            return None
        return (prompt_tokens * self.price_per_mtok[0] + completion_tokens * self.price_per_mtok[1]) / 1e6

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        return [self._turn(r) for r in requests]

    def _turn(self, request: PolicyRequest) -> Completion:
        s = self.settings
        options: dict[str, Any] = {"model": s.model, "temperature": s.temperature, "max_tokens": s.max_tokens}
        if s.top_p is not None:
            options["top_p"] = s.top_p
        if s.seed is not None:
            options["seed"] = s.seed + request.turn  # reproducible per turn, different across turns
        if s.mode == "tools":
            options |= {"messages": tool_messages(request.messages), "tools": TOOLS, "tool_choice": s.tool_choice,
                        "parallel_tool_calls": False}
        else:
            options["messages"] = request.messages
        response = self._call(options)
        if not response.choices:
            raise ApiError(f"{self.base_url}: the answer has no choices (model {s.model})")
        message = response.choices[0].message
        usage = response.usage
        tokens = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)
        text = message.content or ""
        if s.mode == "tools":
            text = completion_from_tool_call(text, message.tool_calls or [])
        return Completion(text, *tokens)

    def _call(self, options: dict[str, Any]) -> Any:
        import openai

        where = f"{self.base_url} (model {self.settings.model})"
        try:
            return self._client.chat.completions.create(**options)
        except openai.AuthenticationError:
            raise ApiError(f"{where}: authentication failed (HTTP 401); check the key's environment variable") from None
        except openai.APITimeoutError:
            raise ApiError(f"{where}: no answer within {self.settings.timeout_s:g} s "
                           f"(after {self.settings.max_retries} retries)") from None
        except openai.APIConnectionError as e:
            raise ApiError(f"{where}: connection failed after {self.settings.max_retries} retries "
                           f"({type(e.__cause__).__name__ if e.__cause__ else 'no answer'})") from None
        except openai.APIStatusError as e:
            raise ApiError(f"{where}: HTTP {e.status_code} after {self.settings.max_retries} retries: "
                           f"{_short(_body_message(e))}") from None


def _body_message(e: Any) -> str:
    body = e.body
    if isinstance(body, dict):
        error = body.get("error", body)
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return str(body or e.message)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def tool_messages(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The SRL prompt as a tool-calling conversation: the tools system prompt, past actions as assistant tool_calls
    and their observations as tool results (a past malformed turn stays plain text, its error a user message)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": TOOLS_SYSTEM_PROMPT}]
    pending: str | None = None  # id of the tool call waiting for its result
    for i, m in enumerate(messages[1:]):
        if m["role"] == "assistant":
            try:
                action = parse_action(m["content"])
            except ActionParseError:
                action = None
            if action is None or tool_name(action) not in ("bash", "str_replace_editor", "submit"):
                out.append({"role": "assistant", "content": m["content"]})
                continue
            pending = f"call_{i}"
            arguments = {k: _json_value(k, v) for k, v in action_params(action)}
            out.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": pending, "type": "function",
                "function": {"name": tool_name(action), "arguments": json.dumps(arguments)}}]})
        elif pending is not None:
            out.append({"role": "tool", "tool_call_id": pending, "content": m["content"]})
            pending = None
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _json_value(key: str, value: str) -> Any:
    if key == "insert_line":
        return int(value)
    if key == "view_range":
        return json.loads(value)
    return value


def completion_from_tool_call(content: str, tool_calls: Sequence[Any]) -> str:
    """A tool-calling reply in the trained text format (answer.render_completion): the content as the thought + the
    first call, canonical.

    A reply without a call is returned as its text (the loop reports the format error to the model); a call with
    arguments that are not JSON, or invalid for its tool, is rendered so that the loop's parser names the problem."""
    if not tool_calls:
        return content
    call = tool_calls[0].function
    thought = content  # render_completion drops any think tags the model wrote inside it
    try:
        arguments = json.loads(call.arguments or "{}")
        if not isinstance(arguments, dict):
            raise ValueError("not an object")
    except ValueError as e:
        return render_completion(thought, f"(tool call {call.name} with arguments that are not a JSON object: {e}: "
                                          f"{_short(call.arguments or '', 200)!r})")
    try:
        return scripted(thought, action_from_call(call.name, arguments)).text
    except ActionParseError as e:
        return render_completion(thought, f"(invalid tool call {call.name}: {e})")
