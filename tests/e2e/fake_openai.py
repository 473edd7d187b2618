#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat endpoint for the e2e tests (standard library only).

    fake_openai.py PORT_FILE COUNT_FILE [--delay SECONDS] [--fail]

Listens on 127.0.0.1 at a free port, writes the port to PORT_FILE, and answers
POST .../chat/completions deterministically from the prompt, as the unit tests'
scripted LLM does (tests/unit/distill/scripted_llm.h): one note per listed movie
("because scripted reason for <title>") and a profile naming the user's first
movie, so the same prompt always gets the same answer whatever the order of
requests. Every answered request is appended as a line to COUNT_FILE.
A rating prompt (an agent's, eval.agents = endpoint: it asks for log-probabilities)
gets the digit nearest the item's historical average in the prompt, with
top_logprobs P(d) proportional to exp(-(d - average)^2) over 1..5 and one word.
--fail: every request gets 401 (a wrong key), which is not retried.
"""
import json
import math
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TITLE = re.compile(r'(?:^|\n)\d+\. "([^"]+)"')
KEY = re.compile(r"I am the viewer who started with ([^.]+)\.")


def answer(body):
    messages = body["messages"]
    first = messages[1]["content"]
    reflection = "Reflect on the profile" in first
    titles = TITLE.findall(first)
    m = KEY.search(first)
    key = m.group(1) if m else (titles[0] if titles else "")
    out = {"profile": "I am the viewer who started with " + key + "." + (" Reflected." if reflection else "")}
    if not reflection:
        out["notes"] = [{"item": i + 1, "reason": "because scripted reason for " + t} for i, t in enumerate(titles)]
    return json.dumps(out)


AVERAGE = re.compile(r"average rating ([0-9.]+)")


def rating_answer(body):
    """(content, logprobs) of an agent's rating prompt, from the item's average."""
    averages = AVERAGE.findall(body["messages"][-1]["content"])
    average = float(averages[-1]) if averages else 3.0
    weights = {d: math.exp(-(d - average) ** 2) for d in range(1, 6)}
    total = sum(weights.values()) / 0.9  # 0.1 left to a word
    top = [{"token": str(d), "logprob": math.log(w / total)} for d, w in weights.items()]
    top.append({"token": "The", "logprob": math.log(0.1)})
    top.sort(key=lambda c: -c["logprob"])
    top = top[:max(1, int(body.get("top_logprobs", 5)))]
    digit = max(weights, key=weights.get)
    return str(digit), {"content": [{"token": str(digit), "logprob": top[0]["logprob"], "top_logprobs": top}]}


def main():
    port_file, count_file = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
    fail = "--fail" in sys.argv
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            time.sleep(delay)
            if fail:
                self.reply(401, json.dumps({"error": {"message": "invalid API key"}}).encode())
                return
            logprobs = None
            if body.get("logprobs"):
                content, logprobs = rating_answer(body)
            else:
                content = answer(body)
            choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            if logprobs is not None:
                choice["logprobs"] = logprobs
            self.reply(200, json.dumps({
                "id": "fake", "object": "chat.completion", "model": body.get("model", ""),
                "choices": [choice],
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
            }).encode())

        def reply(self, status, payload):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            with lock, open(count_file, "a") as f:
                f.write("1\n")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
