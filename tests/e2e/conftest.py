"""Shared fixtures for the SDK end-to-end tests (started by tests/e2e/run.sh)."""
import hashlib
import json
import os
import secrets
import zlib
import subprocess
import time
import urllib.request

import anthropic
import openai
import pytest

DATA_URL = os.environ["E2E_DATA_URL"]
DATA2_URL = os.environ["E2E_DATA2_URL"]
AGENT_TOKEN = os.environ["RUNGATE_AGENT_TOKEN"]
OWNER_DB = os.environ["E2E_OWNER_DATABASE_URL"]


@pytest.fixture
def oai():
    return openai.OpenAI(base_url=DATA_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0)


@pytest.fixture
def claude():
    return anthropic.Anthropic(base_url=DATA_URL, api_key=AGENT_TOKEN, max_retries=0)


def remember(secret):
    """Records a secret the suite saw, for run.sh's final check that none reached a log."""
    if os.environ.get("E2E_SECRETS_FILE"):
        with open(os.environ["E2E_SECRETS_FILE"], "a") as file:
            file.write(secret + "\n")


def api(method, path, token=AGENT_TOKEN, body=None, base=DATA_URL):
    """A raw call to the data plane: (status, headers, json)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def steps_of(run_id, expected, timeout=5.0, token=AGENT_TOKEN, base=DATA_URL):
    """The run's steps once `expected` of them are written (steps are written off the request path)."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = api("GET", f"/v1/runs/{run_id}/steps", token=token, base=base)
        assert status == 200, body
        if len(body["data"]) >= expected or time.monotonic() > deadline:
            return body["data"]
        time.sleep(0.05)


def sql(statement):
    """Runs SQL as the database owner and returns stdout (for checks the API does not expose)."""
    return subprocess.run(["psql", OWNER_DB, "-v", "ON_ERROR_STOP=1", "-tAc", statement],
                          check=True, capture_output=True, text=True).stdout.strip()


def micros(input_tokens, output_tokens, input_price, output_price):
    """Expected cost in micro-dollars (prices per million tokens, in micro-dollars), rounded half up."""
    return (input_tokens * input_price + output_tokens * output_price + 500_000) // 1_000_000


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number, width):
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = BASE62[remainder] + digits
    return digits.rjust(width, "0")


def issue_agent_token():
    """A new token for the demo agent, written as the control plane writes one (hash only)."""
    head = "rg_agt_" + base62(int.from_bytes(secrets.token_bytes(32), "big"), 43)
    token = head + base62(zlib.crc32(head.encode()), 6)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    sql("INSERT INTO agent_tokens (org_id, agent_id, token_hash, display_prefix, name) "
        f"SELECT org_id, id, '{token_hash}', '{token[:11]}', 'e2e' FROM agents WHERE name = 'demo-agent'")
    return token
