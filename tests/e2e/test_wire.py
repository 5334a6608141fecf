"""What crosses the wire: an answer whose length is known leaves in one TCP segment.

Head and body written separately reach a client as two segments; one with Nagle on (Python's
http.client, the sync SDK clients) then waits for the second. The kernel counts the data segments a
socket received (TCP_INFO's tcpi_data_segs_in), so the test reads it rather than timing anything.
"""
import json
import os
import socket
import struct
from urllib.parse import urlparse

import pytest

from conftest import AGENT_TOKEN, DATA_URL

CONTROL_URL = os.environ["E2E_CONTROL_URL"]
TCPI_DATA_SEGS_IN = 152  # offset in struct tcp_info (Linux >= 4.6)


def exchange(base, method, path, body=None, headers=None):
    """One request on a fresh connection: (status line, headers, body, data segments received)."""
    url = urlparse(base)
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, rest = received.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        fields = {name.lower(): value for name, value in fields.items()}
        length = int(fields["content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        (segments,) = struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)
        return head.decode().split("\r\n")[0], fields, rest, segments


@pytest.mark.parametrize("case", ["model call", "refusal", "health", "control plane"])
def test_a_whole_answer_is_one_segment(case):
    if case == "model call":
        status, fields, body, segments = exchange(
            DATA_URL, "POST", "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [[words:3]]"}]},
            {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"})
        assert " 200 " in status and json.loads(body)["object"] == "chat.completion"
        assert fields["x-rungate-run-id"] and fields["x-rungate-request-id"]
    elif case == "refusal":
        status, fields, body, segments = exchange(DATA_URL, "POST", "/v1/chat/completions", {"model": "m"},
                                                  {"Authorization": "Bearer rg_agt_nope"})
        assert " 401 " in status and json.loads(body)["error"]["code"] == "invalid_credentials"
    elif case == "health":
        status, fields, body, segments = exchange(DATA_URL, "GET", "/healthz")
        assert " 200 " in status
    else:
        status, fields, body, segments = exchange(CONTROL_URL, "GET", "/healthz")
        assert " 200 " in status
    assert segments == 1, f"{case}: the answer ({len(body)} body bytes) arrived in {segments} segments"
