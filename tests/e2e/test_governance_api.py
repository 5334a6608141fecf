"""Control plane II over real HTTP, seen from the data plane: what an admin changes reaches every replica."""
import hashlib
import os
import time
import uuid

import openai
import pytest

from conftest import DATA2_URL, DATA_URL, api, remember, steps_of
from test_control_plane import ADMIN_TOKEN, ORG, call

def new_agent():
    status, _, agent = call("POST", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN, body={"name": f"e2e-{uuid.uuid4().hex[:8]}"})
    assert status == 201
    status, _, issued = call("POST", f"/api/orgs/{ORG}/agents/{agent['id']}/tokens", token=ADMIN_TOKEN, body={"name": "e2e"})
    assert status == 201 and issued["token"].startswith("rg_agt_")
    remember(issued["token"])
    return agent, issued


def wait_for(check, within, message):
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def test_a_token_revoked_in_the_control_plane_is_refused_by_every_replica_within_a_second():
    agent, issued = new_agent()
    token = issued["token"]
    for base in (DATA_URL, DATA2_URL):  # both replicas have it cached
        assert api("GET", f"/v1/runs/{uuid.uuid4()}", token=token, base=base)[0] == 404
    status, _, _ = call("DELETE", f"/api/orgs/{ORG}/agents/{agent['id']}/tokens/{issued['agent_token']['id']}", token=ADMIN_TOKEN)
    assert status == 204
    revoked = time.monotonic()
    for base in (DATA_URL, DATA2_URL):
        wait_for(lambda: api("GET", f"/v1/runs/{uuid.uuid4()}", token=token, base=base)[0] == 401,
                 1.0 - (time.monotonic() - revoked), f"{base} still accepts the revoked token after 1 s")
    status, _, tokens = call("GET", f"/api/orgs/{ORG}/agents/{agent['id']}/tokens", token=ADMIN_TOKEN)
    assert tokens["data"][0]["revoked_at"] is not None and token not in str(tokens)


def test_disabling_an_agent_and_cancelling_a_run_stop_its_calls():
    agent, issued = new_agent()
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=issued["token"], max_retries=0)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    run_id = first.headers["x-rungate-run-id"]
    # A run started by a call is written with its first step batch: the control plane sees it
    # within the batch interval (about 50 ms), not necessarily before the call's answer arrives.
    deadline = time.monotonic() + 5
    while (answer := call("POST", f"/api/orgs/{ORG}/runs/{run_id}/cancel", token=ADMIN_TOKEN))[0] == 404:
        assert time.monotonic() < deadline, "the run never reached the control plane"
        time.sleep(0.02)
    status, _, run = answer
    assert status == 200 and run["status"] == "cancelled"

    # The cancellation reaches every data plane by notification (milliseconds); on both, the run takes no more calls.
    def run_refused(base):
        def attempt():
            try:
                openai.OpenAI(base_url=base + "/v1", api_key=issued["token"], max_retries=0).chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}], extra_headers={"x-rungate-run-id": run_id})
                return False
            except openai.ConflictError as error:
                return error.body["code"] == "run_cancelled"
        return attempt
    wait_for(run_refused(DATA_URL), 1.0, "a cancelled run still takes calls after 1 s")
    wait_for(run_refused(DATA2_URL), 1.0, "a cancelled run still takes calls on another replica after 1 s")
    status, _, _ = call("PATCH", f"/api/orgs/{ORG}/agents/{agent['id']}", token=ADMIN_TOKEN, body={"status": "disabled"})
    assert status == 200

    def refused():
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            return False
        except openai.PermissionDeniedError as error:
            return error.body["code"] == "agent_disabled"
    wait_for(refused, 1.0, "a disabled agent is still served after 1 s")


def test_a_replaced_provider_key_is_used_at_once_and_never_shown():
    status, _, keys = call("GET", f"/api/orgs/{ORG}/provider-keys", token=ADMIN_TOKEN)
    key = next(k for k in keys["data"] if k["provider"] == "openai_compatible" and k["is_default"])
    secret = f"sk-e2e-replaced-{uuid.uuid4().hex}"
    remember(secret)
    status, _, replaced = call("PATCH", f"/api/orgs/{ORG}/provider-keys/{key['id']}", token=ADMIN_TOKEN, body={"api_key": secret})
    assert status == 200 and replaced["last_four"] == secret[-4:] and secret not in str(replaced)
    digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
    client = openai.OpenAI(base_url=DATA2_URL + "/v1", api_key=os.environ["RUNGATE_AGENT_TOKEN"], max_retries=0)

    def uses_new_key():
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "which key"}])
        return raw.headers["x-mock-key-sha256"] == digest
    wait_for(uses_new_key, 1.0, "the data plane still forwards the old provider key after 1 s")
    status, _, log = call("GET", f"/api/orgs/{ORG}/audit-log?action=provider_keys.update", token=ADMIN_TOKEN)
    assert status == 200 and log["data"] and secret not in str(log)


def test_a_provider_key_that_would_inject_a_header_is_never_sent():
    """A stored secret with a control character cannot make a valid request: the call is refused
    before anything leaves (502 provider_key_unusable, recorded as a step), and works again once
    the key is corrected."""
    status, _, keys = call("GET", f"/api/orgs/{ORG}/provider-keys", token=ADMIN_TOKEN)
    key = next(k for k in keys["data"] if k["provider"] == "openai_compatible" and k["is_default"])
    unusable = f"sk-e2e-{uuid.uuid4().hex}\u0001x-injected:1"
    remember(unusable)
    status, _, _ = call("PATCH", f"/api/orgs/{ORG}/provider-keys/{key['id']}", token=ADMIN_TOKEN, body={"api_key": unusable})
    assert status == 200
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=os.environ["RUNGATE_AGENT_TOKEN"], max_retries=0)
    try:
        def refused():
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                return False
            except openai.APIStatusError as error:
                assert error.status_code == 502 and error.body["code"] == "provider_key_unusable", error.body
                assert unusable not in str(error.body)
                return True
        wait_for(refused, 1.0, "the unusable key was not in use after 1 s")
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        [step] = steps_of(raised.value.response.headers["x-rungate-run-id"], 1)
        assert step["status"] == "upstream_error" and step["error_code"] == "provider_key_unusable", step
        with pytest.raises(openai.APIStatusError) as raised:  # the key's other use, listing models
            client.models.list()
        assert raised.value.status_code == 502 and raised.value.body["code"] == "provider_key_unusable", raised.value.body
    finally:
        fixed = f"sk-e2e-fixed-{uuid.uuid4().hex}"
        remember(fixed)
        status, _, _ = call("PATCH", f"/api/orgs/{ORG}/provider-keys/{key['id']}", token=ADMIN_TOKEN, body={"api_key": fixed})
        assert status == 200


    def served():
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            return True
        except openai.APIStatusError:
            return False
    wait_for(served, 1.0, "the corrected key was not in use after 1 s")
