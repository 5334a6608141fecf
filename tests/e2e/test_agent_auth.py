"""Agent authentication: malformed tokens are refused without a database lookup; use is recorded, batched."""
import hashlib
import re
import time
import urllib.request
import uuid
import zlib

from conftest import DATA_URL, api, base62, issue_agent_token, sql


def metric(name, labels=""):
    """A counter's value on the data plane's /metrics (0 before its first increment)."""
    text = urllib.request.urlopen(DATA_URL + "/metrics").read().decode()
    pattern = rf"^{re.escape(name)}{re.escape(labels)}\s+([0-9.e+]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_a_malformed_token_never_reaches_the_database():
    good = issue_agent_token()
    malformed = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # checksum no longer matches
        good.replace("rg_agt_", "rg_adm_"),               # another kind of token
        good[:-3],                                         # truncated
        "rg_agt_" + "!" * 49,                              # not base62
        "sk-" + "a" * 48,                                  # a provider key pasted by mistake
    ]
    lookups = metric("rungate_agent_token_db_lookups_total")
    rejected = metric("rungate_agent_auth_rejected_total", '{reason="malformed"}')
    for token in malformed:
        status, _, body = api("GET", f"/v1/runs/{uuid.uuid4()}", token=token)
        assert status == 401 and body["error"]["code"] == "invalid_credentials", token
        assert token not in str(body)
    assert metric("rungate_agent_token_db_lookups_total") == lookups, "a malformed token was looked up"
    assert metric("rungate_agent_auth_rejected_total", '{reason="malformed"}') == rejected + len(malformed)

    # The counter does count: a well-formed token nobody issued costs exactly one lookup.
    head = "rg_agt_" + base62(uuid.uuid4().int, 43)
    unknown = head + base62(zlib.crc32(head.encode()), 6)
    status, _, _ = api("GET", f"/v1/runs/{uuid.uuid4()}", token=unknown)
    assert status == 401
    assert metric("rungate_agent_token_db_lookups_total") == lookups + 1


def test_last_used_at_is_written_in_batches():
    token = issue_agent_token()
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    assert sql(f"SELECT last_used_at IS NULL FROM agent_tokens WHERE token_hash = '{token_hash}'") == "t"
    before = sql("SELECT now()")
    for _ in range(3):
        api("GET", f"/v1/runs/{uuid.uuid4()}", token=token)
    # The e2e data planes flush every second.
    deadline = time.monotonic() + 5
    while sql(f"SELECT last_used_at IS NOT NULL FROM agent_tokens WHERE token_hash = '{token_hash}'") != "t":
        assert time.monotonic() < deadline, "last_used_at was not written within 5 s"
        time.sleep(0.1)
    assert sql(f"SELECT last_used_at >= '{before}' FROM agent_tokens WHERE token_hash = '{token_hash}'") == "t"
