"""A small real OpenAI-compatible chat server on loopback for the failure cases of served models (stdlib only).

    python tests/_flaky_openai_server.py PORT_FILE MODE

Writes its port to PORT_FILE once listening, counts requests in PORT_FILE.requests, and answers
/v1/chat/completions by MODE:
    script   a real tool-calling conversation: turn 1 calls bash, turn 2 calls submit (and the same in text form
             when the request has no tools)
    die      answers the first request like `script`, then the process exits at the second (mid-episode)
    500      HTTP 500 to every request
    hang     accepts the request and never answers
It records the Authorization header of every request in PORT_FILE.auth (the test checks the key arrived).
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT_FILE, MODE = Path(sys.argv[1]), sys.argv[2]
COUNT = Path(str(PORT_FILE) + ".requests")
AUTH = Path(str(PORT_FILE) + ".auth")
state = {"requests": 0}

BASH = ("bash", {"command": "echo served-model-was-here > /testbed/SERVED.txt && ls /testbed"})
SUBMIT = ("submit", {})


def _reply(body: dict, turn: int) -> dict:
    name, arguments = BASH if turn == 0 else SUBMIT
    thought = "Look at the repository." if turn == 0 else "Done."
    usage = {"prompt_tokens": 100 + turn, "completion_tokens": 10 + turn, "total_tokens": 110 + 2 * turn}
    if body.get("tools"):
        message = {"role": "assistant", "content": thought, "tool_calls": [{
            "id": f"call_{turn}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}]}
    else:
        params = "".join(f"<parameter={k}>{v}</parameter>\n" for k, v in arguments.items())
        message = {"role": "assistant", "content": f"<think>{thought}</think>\n<function={name}>\n{params}</function>"}
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "?"), "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if body.get("tools") else "stop"}]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        state["requests"] += 1
        COUNT.write_text(str(state["requests"]))
        with AUTH.open("a") as f:
            f.write((self.headers.get("Authorization") or "") + "\n")
        if MODE == "500":
            return self._send(500, {"error": {"message": "internal error (test server)", "type": "server_error"}})
        if MODE == "hang":
            time.sleep(3600)
            return None
        if MODE == "die" and state["requests"] >= 2:
            os._exit(0)  # the server process dies mid-episode: the connection drops without an answer
        # The turn is the number of assistant messages already in the conversation (the history is the loop's).
        turn = sum(m.get("role") == "assistant" for m in body.get("messages", []))
        return self._send(200, _reply(body, min(turn, 1)))

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = PORT_FILE.with_name(PORT_FILE.name + ".tmp")
    tmp.write_text(str(server.server_address[1]))
    os.replace(tmp, PORT_FILE)
    server.serve_forever()
