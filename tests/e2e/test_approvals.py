"""Approval gates through the real SDK: 202 → approve → the held answer once (no second upstream
call, no second charge), the reject flow, and the tool-calls endpoint."""
import json
import os
import urllib.request

import anthropic
import openai
import pytest

from conftest import DATA_URL, api, steps_of
from test_control_plane import ADMIN_TOKEN, ORG, call
from test_governance import governed

GATE = {"tools": {"require_approval": [{"tool": "delete_*", "arguments": {"env": "^prod$"}}]}}
PROD = [{"role": "user", "content": 'clean up [[tool:delete_database {"env":"prod"}]]'}]


def upstream_calls():
    with urllib.request.urlopen(os.environ["E2E_MOCK_URL"] + "/mock/stats") as response:
        return json.loads(response.read())["total"]


def test_a_gated_tool_call_waits_then_the_held_answer_is_returned_once():
    client, token, name = governed(GATE)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD)
    assert first.status_code == 202 and first.headers["x-rungate-status"] == "pending_approval" and first.headers["retry-after"]
    pending = first.http_response.json()
    assert pending["proposed_action"]["tool"] == "delete_database" and pending["proposed_action"]["arguments"] == {"env": "prod"}
    assert pending["rule"] == {"rule": "tools.require_approval[0]", "policy": name, "policy_version": 1}
    run = {"x-rungate-run-id": first.headers["x-rungate-run-id"]}
    calls_after_first = upstream_calls()

    again = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, extra_headers=run)
    assert again.status_code == 202 and again.http_response.json()["id"] == pending["id"]
    status, _, decided = call("POST", f"/api/orgs/{ORG}/approvals/{pending['id']}/approve", token=ADMIN_TOKEN, body={"reason": "planned cleanup"})
    assert status == 200 and decided["status"] == "approved"

    approved = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, extra_headers=run)
    assert approved.status_code == 200 and approved.headers["x-rungate-status"] == "approved"
    completion = approved.parse()
    assert completion.choices[0].message.tool_calls[0].function.name == "delete_database"
    assert upstream_calls() == calls_after_first, "the held answer is returned without a second upstream call"
    steps = steps_of(run["x-rungate-run-id"], 2, token=token)
    assert steps[0]["status"] == "held_for_approval" and steps[0]["cost_micros"] > 0
    assert steps[-1]["kind"] == "approval" and steps[-1]["cost_micros"] == 0
    # Consumed: the same request is a new call now, and waits again.
    later = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, extra_headers=run)
    assert later.status_code == 202 and later.http_response.json()["id"] != pending["id"]


OFFERED = [{"type": "function", "function": {"name": "delete_database", "parameters": {"type": "object"}}}]


def test_a_streamed_gated_call_is_held_then_replayed_as_the_same_stream():
    client, token, _ = governed(GATE)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, tools=OFFERED, stream=True)
    assert first.status_code == 202 and first.headers["x-rungate-status"] == "pending_approval"
    pending = json.loads(first.http_response.read())
    assert pending["proposed_action"]["tool"] == "delete_database" and pending["proposed_action"]["arguments"] == {"env": "prod"}
    run = {"x-rungate-run-id": first.headers["x-rungate-run-id"]}
    assert client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, tools=OFFERED, stream=True,
                                                            extra_headers=run).status_code == 202
    call("POST", f"/api/orgs/{ORG}/approvals/{pending['id']}/approve", token=ADMIN_TOKEN, body={})
    calls_before = upstream_calls()

    name, arguments = "", ""
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=PROD, tools=OFFERED, stream=True, extra_headers=run):
        for choice in chunk.choices:
            for tool_call in choice.delta.tool_calls or []:
                name += tool_call.function.name or ""
                arguments += tool_call.function.arguments or ""
    assert name == "delete_database" and json.loads(arguments) == {"env": "prod"}
    assert upstream_calls() == calls_before, "the held stream is replayed, not asked again"
    steps = steps_of(run["x-rungate-run-id"], 2, token=token)
    assert steps[0]["status"] == "held_for_approval" and steps[0]["cost_micros"] > 0 and steps[-1]["kind"] == "approval"

    # A streamed call offering the gated tool that proposes none is delivered as a stream at once.
    text = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello [[words:3]]"}], tools=OFFERED, stream=True) if chunk.choices)
    assert text == "This is a"


def test_a_streamed_anthropic_tool_use_is_held_until_approved():
    _, token, _ = governed(GATE)
    claude = anthropic.Anthropic(base_url=DATA_URL, api_key=token, max_retries=0)
    ask = dict(model="claude-sonnet-4-6", max_tokens=100, messages=PROD, tools=[{"name": "delete_database", "input_schema": {"type": "object"}}])
    first = claude.messages.with_raw_response.create(**ask, stream=True)
    assert first.status_code == 202
    pending = json.loads(first.http_response.read())
    assert pending["proposed_action"]["arguments"] == {"env": "prod"}
    call("POST", f"/api/orgs/{ORG}/approvals/{pending['id']}/approve", token=ADMIN_TOKEN, body={})
    replay = claude.messages.with_raw_response.create(**ask, stream=True, extra_headers={"x-rungate-run-id": first.headers["x-rungate-run-id"]})
    assert replay.status_code == 200 and replay.headers["x-rungate-status"] == "approved"
    events = list(replay.parse())
    started = next(event for event in events if event.type == "content_block_start")
    arguments = "".join(event.delta.partial_json for event in events if event.type == "content_block_delta")
    assert started.content_block.name == "delete_database" and json.loads(arguments) == {"env": "prod"}
    assert events[-1].type == "message_stop"


def test_a_rejected_call_is_refused_with_the_reason_and_other_arguments_pass():
    client, _, _ = governed(GATE)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD)
    approval = first.http_response.json()["id"]
    status, _, _ = call("POST", f"/api/orgs/{ORG}/approvals/{approval}/reject", token=ADMIN_TOKEN, body={"reason": "never on prod"})
    assert status == 200
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=PROD, extra_headers={"x-rungate-run-id": first.headers["x-rungate-run-id"]})
    assert refused.value.body["code"] == "approval_rejected" and "never on prod" in refused.value.body["message"]
    staging = [{"role": "user", "content": 'clean up [[tool:delete_database {"env":"staging"}]]'}]
    assert client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=staging).status_code == 200


def test_the_tool_calls_endpoint_asks_before_a_tool_runs():
    client, token, _ = governed({**GATE, "tools": {**GATE["tools"], "deny": ["shell*"]}})
    run = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]).headers["x-rungate-run-id"]
    ask = {"tool": "delete_table", "arguments": {"env": "prod"}}
    status, headers, pending = api("POST", f"/v1/runs/{run}/tool-calls", token=token, body=ask)
    assert status == 202 and headers["x-rungate-status"] == "pending_approval"
    assert api("POST", f"/v1/runs/{run}/tool-calls", token=token, body=ask)[0] == 202
    call("POST", f"/api/orgs/{ORG}/approvals/{pending['id']}/approve", token=ADMIN_TOKEN, body={})
    status, _, decision = api("POST", f"/v1/runs/{run}/tool-calls", token=token, body=ask)
    assert status == 200 and decision["decision"] == "approved" and decision["approval_id"] == pending["id"]
    assert api("POST", f"/v1/runs/{run}/tool-calls", token=token, body={"tool": "read_file", "arguments": {}})[2]["decision"] == "allowed"
    status, _, denied = api("POST", f"/v1/runs/{run}/tool-calls", token=token, body={"tool": "shell_exec"})
    assert status == 403 and denied["error"]["code"] == "tool_denied"
