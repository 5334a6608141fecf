"""Hostile input: every one answers a clear 4xx, none a 5xx, and the processes keep serving."""
import json
import socket
import urllib.parse
import uuid

import pytest

from conftest import AGENT_TOKEN, DATA_URL, api
from test_control_plane import ADMIN_TOKEN, CONTROL_URL, ORG, call


def raw(base, request_bytes):
    """Sends bytes as they are (clients refuse to send some of these) and returns the status line's code."""
    parts = urllib.parse.urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request_bytes)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def post_chat(body: bytes, headers=None):
    head = [f"POST /v1/chat/completions HTTP/1.1", f"Host: {urllib.parse.urlsplit(DATA_URL).netloc}",
            f"Authorization: Bearer {AGENT_TOKEN}", "Content-Type: application/json", f"Content-Length: {len(body)}", "Connection: close"]
    head += headers or []
    return raw(DATA_URL, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.mark.parametrize("run_id", ["../../etc/passwd", "' OR 1=1 --", "00000000-0000-0000-0000-00000000000g", "x" * 5000,
                                    "🙂", "%00", "1; DROP TABLE runs"])
def test_hostile_run_ids_are_refused_with_400(run_id):
    status = post_chat(CHAT, [f"x-rungate-run-id: {run_id}".encode("utf-8").decode("latin-1")])
    assert status == 400


@pytest.mark.parametrize("policy", ["x@1' OR '1'='1", "../policies@1", "p@-1", "p@99999999999999999999", "@", "p@", "@1",
                                    "p" * 5000 + "@1", "p@1@2", "p\x01@1"])
def test_hostile_policy_pins_are_refused_with_4xx(policy):
    status = post_chat(CHAT, [f"x-rungate-policy: {policy}"])
    assert 400 <= status < 500, status


def test_header_injection_is_refused_by_the_server():
    # A CR/LF inside a header value is a framing error: refused (400), never split into two headers.
    status = post_chat(CHAT, ["x-rungate-run-id: 1\rX-Injected: yes"])
    assert status == 400


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,                                # deeply nested
    b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"model": "\xff\xfe", "messages": []}',                       # invalid UTF-8
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}',  # lone surrogate
    b"\x00" * 100, b"{" * 10, b'{"model": "gpt-4o-mini", "messages": [],}', b"null", b"1e999999",
])
def test_malformed_bodies_are_refused_and_the_data_plane_keeps_serving(body):
    status = post_chat(body)
    assert 400 <= status < 500, status
    assert api("GET", "/v1/models")[0] == 200, "the process is still up"


def test_sql_metacharacters_are_stored_as_text():
    name = f"x'; DROP TABLE agents; --{uuid.uuid4().hex[:6]}"
    status, _, created = call("POST", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN, body={"name": name, "description": "\" OR \"\"=\""})
    assert status == 201 and created["name"] == name
    status, _, read = call("GET", f"/api/orgs/{ORG}/agents/{created['id']}", token=ADMIN_TOKEN)
    assert status == 200 and read["name"] == name and read["description"] == "\" OR \"\"=\""


@pytest.mark.parametrize("path", [
    "/api/orgs/{org}/agents/..%2F..%2Fadmin-tokens", "/api/orgs/{org}/agents/%2e%2e", "/api/orgs/{org}/runs/' OR 1=1",
    "/api/orgs/../orgs/{org}/agents", "/api/orgs/{org}/webhooks/00000000-0000-0000-0000-000000000000",
    "/api/orgs/00000000-0000-0000-0000-000000000000/agents",
])
def test_traversal_and_foreign_ids_find_nothing(path):
    status, _, body = call("GET", urllib.parse.quote(path.format(org=ORG), safe="/%'"), token=ADMIN_TOKEN)
    assert status in (400, 404), (status, body)
    assert "error" in body


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_oversized_headers_are_refused_and_the_server_keeps_serving(size):
    for base in (DATA_URL, CONTROL_URL):
        try:
            status = raw(base, (f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {'a' * size}\r\nConnection: close\r\n\r\n").encode())
        except (ConnectionResetError, BrokenPipeError):
            status = 0  # the server hung up on it: refused without an answer
        assert status == 0 or 400 <= status < 500, f"{base}: {status}"
        assert raw(base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 200, f"{base} stopped serving"
