"""The platform service over real HTTP: suspension reaches every data-plane replica within a second;
token classes are refused by the services they do not belong to."""
import json
import os
import time
import urllib.request
import uuid

import openai

from conftest import AGENT_TOKEN, DATA2_URL, DATA_URL, api
from test_control_plane import ADMIN_TOKEN, CONTROL_URL, ORG

PLATFORM_URL = os.environ["E2E_PLATFORM_URL"]
PLATFORM_TOKEN = os.environ["E2E_PLATFORM_TOKEN"]


def platform(method, path, token=PLATFORM_TOKEN, body=None):
    request = urllib.request.Request(PLATFORM_URL + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def status_of(base, path, token):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_suspended_org_is_refused_by_every_replica_within_a_second_and_restored_after():
    clients = [openai.OpenAI(base_url=base + "/v1", api_key=AGENT_TOKEN, max_retries=0) for base in (DATA_URL, DATA2_URL)]
    for client in clients:  # warm both replicas' caches
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    status, org = platform("POST", f"/platform/orgs/{ORG}/suspend")
    assert status == 200 and org["status"] == "suspended"
    suspended = time.monotonic()
    try:
        for client in clients:
            while True:
                try:
                    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                except openai.PermissionDeniedError as error:
                    assert error.body["code"] == "org_suspended"
                    break
                assert time.monotonic() - suspended < 1.0, "a replica still serves a suspended org after 1 s"
                time.sleep(0.02)
        assert status_of(CONTROL_URL, f"/api/orgs/{ORG}", ADMIN_TOKEN) == 403
    finally:
        status, org = platform("POST", f"/platform/orgs/{ORG}/unsuspend")
        assert status == 200 and org["status"] == "active"
    restored = time.monotonic()
    while api("GET", f"/v1/runs/{uuid.uuid4()}")[0] != 404:
        assert time.monotonic() - restored < 1.0
        time.sleep(0.02)
    status, log = platform("GET", "/platform/platform-audit-log?action=orgs.suspend")
    assert status == 200 and log["data"][0]["target_id"] == ORG and log["data"][0]["before"]["status"] == "active"


def test_token_classes_are_not_interchangeable_across_the_three_services():
    for token in (AGENT_TOKEN, ADMIN_TOKEN):
        assert status_of(PLATFORM_URL, "/platform/orgs", token) == 401
    assert status_of(CONTROL_URL, "/api/me", PLATFORM_TOKEN) == 401
    assert status_of(CONTROL_URL, "/api/me", AGENT_TOKEN) == 401
    assert status_of(DATA_URL, f"/v1/runs/{uuid.uuid4()}", PLATFORM_TOKEN) == 401
    assert status_of(DATA_URL, f"/v1/runs/{uuid.uuid4()}", ADMIN_TOKEN) == 401
    assert status_of(PLATFORM_URL, "/platform/orgs", PLATFORM_TOKEN) == 200
