#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat endpoint for the e2e tests (standard library only).

    fake_openai.py PORT_FILE COUNT_FILE [--delay SECONDS] [--fail]

Listens on 127.0.0.1 at a free port, writes the port to PORT_FILE, and answers
POST .../chat/completions deterministically from the prompt, as the unit tests'
scripted LLM does (tests/unit/distill/scripted_llm.h): one note per listed movie
("because scripted reason for <title>") and a profile naming the user's first
movie, so the same prompt always gets the same answer whatever the order of
requests. Every answered request is appended as a line to COUNT_FILE.
--fail: every request gets 401 (a wrong key), which is not retried.
"""
import json
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
            content = answer(body)
            self.reply(200, json.dumps({
                "id": "fake", "object": "chat.completion", "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
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
