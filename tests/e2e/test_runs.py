"""Runs: explicit start and end, the 409 after the end, isolation, and revocation across replicas."""
import hashlib
import time
import uuid

import openai
import pytest

from conftest import AGENT_TOKEN, DATA2_URL, DATA_URL, api, issue_agent_token, sql, steps_of


def test_start_end_and_a_call_after_the_end_is_409(oai):
    status, headers, run = api("POST", "/v1/runs", body={"metadata": {"ticket": "T-1"}})
    assert status == 201 and run["status"] == "running" and run["metadata"] == {"ticket": "T-1"}
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a"}],
                                extra_headers={"x-rungate-run-id": run["id"]})
    status, _, ended = api("POST", f"/v1/runs/{run['id']}/end")
    assert status == 200 and ended["status"] == "ended"
    with pytest.raises(openai.ConflictError) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "b"}],
                                    extra_headers={"x-rungate-run-id": run["id"]})
    assert raised.value.body["rungate"]["rule"]["rule"] == "run.state"


def test_unknown_and_foreign_runs_are_404():
    status, _, body = api("GET", f"/v1/runs/{uuid.uuid4()}")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, _ = api("GET", "/v1/runs/not-a-uuid/steps")
    assert status == 404


def test_revocation_reaches_another_replica_within_a_second():
    # A token of its own, so revoking it leaves the other tests' token alone.
    token = issue_agent_token()
    status, _, _ = api("GET", f"/v1/runs/{uuid.uuid4()}", token=token, base=DATA2_URL)
    assert status == 404, "the new token authenticates (and is cached) on replica 2"
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    # As the control plane will: revoke and notify in one transaction.
    sql(f"BEGIN; UPDATE agent_tokens SET revoked_at = now() WHERE token_hash = '{token_hash}'; "
        f"SELECT pg_notify('rungate_invalidate', 'token:{token_hash}'); COMMIT;")
    revoked_at = time.monotonic()
    while True:
        status, _, body = api("GET", f"/v1/runs/{uuid.uuid4()}", token=token, base=DATA2_URL)
        if status == 401:
            break
        assert time.monotonic() - revoked_at < 1.0, "replica 2 still accepts a revoked token after 1 s"
        time.sleep(0.02)
    assert body["error"]["rungate"]["code"] == "invalid_credentials"
    assert token not in str(body)
    status, _, _ = api("GET", f"/v1/runs/{uuid.uuid4()}", token=token, base=DATA_URL)
    assert status == 401


def test_a_retry_on_another_replica_is_recorded_as_a_retry():
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "flaky"}]}
    failing = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        failing.chat.completions.create(**body, extra_headers={"x-mock-error": "503"})
    run_id = raised.value.response.headers["x-rungate-run-id"]
    # The same call, retried through the other replica (as a load balancer may send it).
    other = openai.OpenAI(base_url=DATA2_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0)
    other.chat.completions.create(**body, extra_headers={"x-rungate-run-id": run_id})
    # A further identical call after the successful retry is a new call, not a retry.
    other.chat.completions.create(**body, extra_headers={"x-rungate-run-id": run_id})
    steps = steps_of(run_id, 3)
    assert [(s["kind"], s["status"]) for s in steps] == [
        ("model_call", "upstream_error"), ("retry", "ok"), ("model_call", "ok")]
