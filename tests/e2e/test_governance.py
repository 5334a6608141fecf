"""Policies enforced in the data plane, through the real SDKs: each rule type, its status code and
headers, the rule named in the error, x-rungate-policy pinning, and limits shared by both replicas."""
import time
import uuid

import anthropic
import openai
import pytest

from conftest import DATA2_URL, DATA_URL, remember, sql, steps_of
from test_control_plane import ADMIN_TOKEN, ORG, call


def policy(rules):
    name = f"p-{uuid.uuid4().hex[:8]}"
    status, _, created = call("POST", f"/api/orgs/{ORG}/policies", token=ADMIN_TOKEN, body={"name": name, "rules": rules})
    assert status == 201, created
    return name, created["policy"]["id"]


def agent(pin=None):
    status, _, created = call("POST", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN,
                              body={"name": f"gov-{uuid.uuid4().hex[:8]}", **({"policy": pin} if pin else {})})
    assert status == 201, created
    status, _, issued = call("POST", f"/api/orgs/{ORG}/agents/{created['id']}/tokens", token=ADMIN_TOKEN, body={})
    remember(issued["token"])
    return issued["token"]


def governed(rules, base=DATA_URL):
    name, _ = policy(rules)
    token = agent(f"{name}@1")
    return openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0), token, name


def ask(client, content="hello", **extra):
    return client.chat.completions.with_raw_response.create(model=extra.pop("model", "gpt-4o-mini"),
                                                            messages=[{"role": "user", "content": content}], **extra)


def test_models_outside_the_policy_are_refused_with_the_rule_that_fired():
    client, token, name = governed({"models": {"allow": ["gpt-4o*"], "deny": ["gpt-4o-audio*"]}})
    assert ask(client).parse().choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask(client, model="gpt-4o-audio-preview")
    assert denied.value.body["code"] == "model_denied"
    assert denied.value.body["rungate"]["rule"] == {"rule": "models.deny[0]", "policy": name, "policy_version": 1}
    assert "recovery" in denied.value.body["rungate"]
    with pytest.raises(openai.PermissionDeniedError) as unlisted:
        ask(client, model="claude-sonnet-4-6")
    assert unlisted.value.body["code"] == "model_not_allowed"
    step = steps_of(denied.value.response.headers["x-rungate-run-id"], 1, token=token)[0]
    assert step["kind"] == "block" and step["rule"] == "models.deny[0]" and step["http_status"] == 403


def test_a_blocked_tool_offered_or_called_is_refused_in_both_apis():
    client, token, _ = governed({"tools": {"deny": ["shell*"]}})
    tool = {"type": "function", "function": {"name": "shell_exec", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.PermissionDeniedError) as offered:
        ask(client, tools=[tool])
    assert offered.value.body["code"] == "tool_denied" and "shell_exec" in offered.value.body["message"]
    claude = anthropic.Anthropic(base_url=DATA_URL, api_key=token, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as called:
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=[
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shell_run", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}])
    assert called.value.body["rungate"]["rule"]["rule"] == "tools.deny[0]"
    safe = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}
    assert ask(client, tools=[safe]).parse().choices


def test_content_rules_block_secrets_and_redact_before_forwarding():
    client, token, _ = governed({"content": [
        {"name": "aws-key", "pattern": "AKIA[0-9A-Z]{16}", "action": "block", "applies_to": "request"},
        {"name": "email", "pattern": "[a-z]+@corp\\.example", "action": "redact"}]})
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        # A made-up value with the shape of an AWS access key id, assembled here so that no
        # key-shaped literal sits in the tree: it is not, and never was, a credential.
        ask(client, "my key is " + "AKIA" + "FAKE" + "0" * 12 + ", keep it")
    assert blocked.value.body["code"] == "content_blocked" and "AKIA" not in str(blocked.value.body)
    raw = ask(client, "write to alice@corp.example please")
    run_id = raw.headers["x-rungate-run-id"]
    step = steps_of(run_id, 1, token=token)[0]
    status, _, payload = call("GET", f"/api/orgs/{ORG}/runs/{run_id}/steps/{step['id']}/payload", token=ADMIN_TOKEN)
    assert status == 200
    sent = payload["request"]["messages"][0]["content"]
    assert "alice@corp.example" not in sent and "[REDACTED:email]" in sent


def test_stored_payloads_are_compressed_when_long_and_read_back_as_sent():
    token = agent()
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token, max_retries=0)
    # An agent's long request repeats itself, as its conversations do.
    sent = " ".join(f"Step {i}: read src/module{i}.swift, then run the tests again." for i in range(400))
    raw = ask(client, sent)
    run_id = raw.headers["x-rungate-run-id"]
    step = steps_of(run_id, 1, token=token)[0]
    status, _, payload = call("GET", f"/api/orgs/{ORG}/runs/{run_id}/steps/{step['id']}/payload", token=ADMIN_TOKEN)
    assert status == 200, payload
    assert payload["request"]["messages"][0]["content"] == sent
    assert payload["response"]["choices"][0]["message"]["content"] == raw.parse().choices[0].message.content
    compression, stored = sql(
        f"SELECT compression || ',' || octet_length(request_ciphertext) FROM payloads WHERE step_id = '{step['id']}'").split(",")
    assert compression == "zstd" and int(stored) * 3 < len(sent), stored

    # A short call's payload is sealed as sent: compressing it would cost more than it saves.
    short = ask(client, "Say something short.")
    short_run = short.headers["x-rungate-run-id"]
    short_step = steps_of(short_run, 1, token=token)[0]
    status, _, payload = call("GET", f"/api/orgs/{ORG}/runs/{short_run}/steps/{short_step['id']}/payload", token=ADMIN_TOKEN)
    assert status == 200 and payload["request"]["messages"][0]["content"] == "Say something short.", payload
    assert sql(f"SELECT coalesce(compression, 'none') FROM payloads WHERE step_id = '{short_step['id']}'") == "none"


def test_run_ceilings_and_loop_detection():
    client, token, _ = governed({"max_steps_per_run": 2, "loop_detection": {"max_repeats": 2, "window_seconds": 60}})
    first = ask(client, "one")
    run = {"x-rungate-run-id": first.headers["x-rungate-run-id"]}
    ask(client, "two", extra_headers=run)
    steps_of(run["x-rungate-run-id"], 2, token=token)
    with pytest.raises(openai.PermissionDeniedError) as ceiling:
        ask(client, "three", extra_headers=run)
    assert ceiling.value.body["code"] == "run_step_limit"

    tokens_client, tokens_token, _ = governed({"max_tokens_per_run": 30})
    spent = ask(tokens_client, "use many [[words:40]]")
    tokens_run = {"x-rungate-run-id": spent.headers["x-rungate-run-id"]}
    steps_of(tokens_run["x-rungate-run-id"], 1, token=tokens_token)
    with pytest.raises(openai.PermissionDeniedError) as tokens:
        ask(tokens_client, "more", extra_headers=tokens_run)
    assert tokens.value.body["code"] == "run_token_limit" and tokens.value.body["rungate"]["rule"]["rule"] == "max_tokens_per_run"

    # Loops on their own policy: under the one above, the step ceiling could fire first.
    loop_client, _, _ = governed({"loop_detection": {"max_repeats": 2, "window_seconds": 60}})
    looping = ask(loop_client, "same question")
    again = {"x-rungate-run-id": looping.headers["x-rungate-run-id"]}
    ask(loop_client, "same question", extra_headers=again)
    with pytest.raises(openai.PermissionDeniedError) as loop:
        ask(loop_client, "same question", extra_headers=again, stream=False)
    assert loop.value.body["code"] == "loop_detected" and loop.value.body["rungate"]["rule"]["rule"] == "loop_detection"


def test_rate_limits_are_shared_by_the_replicas_and_answer_429_with_headers():
    name, _ = policy({"rate_limits": [{"scope": "agent", "requests_per_minute": 3}]})
    token = agent(f"{name}@1")
    clients = [openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0) for base in (DATA_URL, DATA2_URL)]
    remaining = []
    for index in range(3):
        raw = ask(clients[index % 2])
        assert raw.headers["x-ratelimit-limit"] == "3"
        remaining.append(int(raw.headers["x-ratelimit-remaining"]))
        assert 1 <= int(raw.headers["x-ratelimit-reset"]) <= 60
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as limited:
        ask(clients[1])
    headers = limited.value.response.headers
    assert headers["x-ratelimit-remaining"] == "0" and 1 <= int(headers["retry-after"]) <= 60
    assert limited.value.body["code"] == "rate_limited" and limited.value.body["rungate"]["rule"]["rule"] == "rate_limits[0].requests_per_minute"


def test_x_rungate_policy_pins_a_run_to_a_version_the_agent_may_use():
    strict, _ = policy({"models": {"deny": ["*"]}})
    lenient, lenient_id = policy({"max_steps_per_run": 100})
    status, _, _ = call("POST", f"/api/orgs/{ORG}/policies/{lenient_id}/versions", token=ADMIN_TOKEN,
                        body={"rules": {"models": {"deny": ["gpt-4o-mini"]}}})
    assert status == 201
    unpinned = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=agent(), max_retries=0)
    assert ask(unpinned).parse().choices
    with pytest.raises(openai.PermissionDeniedError) as pinned_strict:
        ask(unpinned, extra_headers={"x-rungate-policy": f"{strict}@1"})
    assert pinned_strict.value.body["rungate"]["rule"]["policy"] == strict

    pinned = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=agent(f"{lenient}@1"), max_retries=0)
    assert ask(pinned).parse().choices
    with pytest.raises(openai.PermissionDeniedError) as v2:
        ask(pinned, extra_headers={"x-rungate-policy": f"{lenient}@2"})
    assert v2.value.body["rungate"]["rule"] == {"rule": "models.deny[0]", "policy": lenient, "policy_version": 2}
    with pytest.raises(openai.PermissionDeniedError) as other:
        ask(pinned, extra_headers={"x-rungate-policy": f"{strict}@1"})
    assert other.value.body["code"] == "policy_not_allowed"
    with pytest.raises(openai.PermissionDeniedError) as missing:
        ask(pinned, extra_headers={"x-rungate-policy": f"{lenient}@9"})
    assert missing.value.body["code"] == "policy_not_found"


def test_first_use_of_a_model_or_tool_under_a_policy_version_emits_drift_once():
    from conftest import sql
    from webhook_receiver import Receiver, subscribe

    receiver = Receiver().start()
    subscribe(receiver.url, events=["policy.drift"])
    client, token, name = governed({"max_steps_per_run": 100})
    agent_id = sql(f"SELECT agent_id FROM agent_tokens WHERE token_hash = encode(sha256('{token}'::bytea), 'hex')")
    tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}
    for _ in range(2):
        ask(client)
        ask(client, tools=[tool])
    deadline = time.monotonic() + 10

    def drift():
        return sorted(f"{e['data']['kind']}:{e['data']['name']}" for e in receiver.events() if e["data"]["agent_id"] == agent_id)
    while drift() != ["model:gpt-4o-mini", "tool:read_file"]:
        assert time.monotonic() < deadline, drift()
        time.sleep(0.1)
    time.sleep(0.5)
    assert drift() == ["model:gpt-4o-mini", "tool:read_file"], "each first use once"
    receiver.stop()
