"""Schemathesis against /api/openapi.json as an org owner: no 5xx, answers as documented.

Runs last (file name) on an org of its own, since fuzzing deletes, renames and revokes.
"""
import os
import subprocess
import sys
import uuid

from test_control_plane import CONTROL_URL, call

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_schemathesis_finds_no_server_errors_and_no_undocumented_answers(tmp_path):
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    status, _, session = call("POST", "/api/auth/signup", body={"email": email, "password": "fuzzing-password-123"})
    assert status == 201
    status, _, org = call("POST", "/api/orgs", token=session["token"], body={"name": "Fuzzed"})
    assert status == 201
    token, base = session["token"], f"/api/orgs/{org['id']}"

    def create(path, body):
        status, _, created = call("POST", base + path, token=token, body=body)
        assert status == 201, created
        return created

    # One worker: schemathesis (4.32, CPython 3.11) has crashed with two ("AST constructor recursion
    # depth mismatch"), a fault of the tool, not of the API under test.
    # Real ids for the path parameters that name this org's objects, so requests get past 404.
    ids = {
        "org": org["id"], "user": session["user"]["id"], "version": 1,
        "team": create("/teams", {"name": "fuzz-team"})["id"],
        "agent": create("/agents", {"name": "fuzz-agent"})["id"],
        "policy": create("/policies", {"name": "fuzz-policy", "rules": {"max_steps_per_run": 5}})["policy"]["id"],
        "budget": create("/budgets", {"scope": "org", "period": "month", "cap_micros": 1000})["id"],
        "webhook": create("/webhooks", {"url": "https://203.0.113.30/hook", "events": ["run.ended"]})["webhook"]["id"],
        "key": create("/provider-keys", {"provider": "anthropic", "name": "fuzz-key", "api_key": "sk-fuzz-12345678"})["id"],
    }
    ids["agent_token"] = create(f"/agents/{ids['agent']}/tokens", {"name": "fuzz"})["agent_token"]["id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f'"path.{name}" = {value!r}\n'.replace("'", '"') for name, value in ids.items()))
    command = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"), "--config-file", str(config), "run", CONTROL_URL + "/api/openapi.json",
        "--header", f"Authorization: Bearer {session['token']}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--exclude-path", "/api/auth/logout",
        "--max-examples", "15", "--workers", "1", "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
