"""The control plane over real HTTP: sign-in, the session cookie, admin tokens, the audit log, OpenAPI."""
import http.cookiejar
import json
import os
import urllib.request

from conftest import AGENT_TOKEN, remember

CONTROL_URL = os.environ["E2E_CONTROL_URL"]
ORG = os.environ["RUNGATE_ORG_ID"]
OWNER_EMAIL = os.environ["RUNGATE_OWNER_EMAIL"]
OWNER_PASSWORD = os.environ["E2E_OWNER_PASSWORD"]
ADMIN_TOKEN = os.environ["RUNGATE_ADMIN_TOKEN"]


def call(method, path, token=None, body=None, opener=None, headers=None):
    request = urllib.request.Request(CONTROL_URL + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json", **(headers or {})})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener or urllib.request.build_opener()).open(request) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def test_owner_signs_in_and_sees_the_bootstrapped_org():
    status, headers, session = call("POST", "/api/auth/login", body={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert status == 200 and session["token"].startswith("rg_ses_")
    remember(session["token"])
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    status, _, me = call("GET", "/api/me", token=session["token"])
    assert status == 200 and me["user"]["email"] == OWNER_EMAIL
    assert [(org["id"], org["role"]) for org in me["orgs"]] == [(ORG, "owner")]


def test_a_browser_session_rides_on_the_cookie():
    jar = http.cookiejar.CookieJar()
    # The cookie is Secure; this plain-HTTP test client must be told loopback is fine, as browsers do.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _, _ = call("POST", "/api/auth/login", body={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, opener=opener)
    assert status == 200
    cookie = next(c for c in jar if c.name == "rungate_session")
    cookie.secure = False
    status, _, me = call("GET", "/api/me", opener=opener)
    assert status == 200 and me["credential"] == "session"
    status, _, error = call("POST", "/api/auth/logout", opener=opener)
    assert status == 403 and error["error"]["code"] == "csrf_header_missing"
    status, _, _ = call("POST", "/api/auth/logout", opener=opener, headers={"X-Requested-With": "rungate"})
    assert status == 204


def test_admin_tokens_are_scoped_and_audited():
    status, _, issued = call("POST", f"/api/orgs/{ORG}/admin-tokens", token=ADMIN_TOKEN,
                             body={"name": "e2e-ci", "scopes": ["members.read"]})
    assert status == 201
    narrow = issued["token"]
    remember(narrow)
    status, _, members = call("GET", f"/api/orgs/{ORG}/members", token=narrow)
    assert status == 200 and members["data"][0]["email"] == OWNER_EMAIL
    status, _, error = call("PATCH", f"/api/orgs/{ORG}", token=narrow, body={"name": "nope"})
    assert status == 403 and error["error"]["code"] == "scope_missing"
    status, _, log = call("GET", f"/api/orgs/{ORG}/audit-log?action=admin_tokens.create", token=ADMIN_TOKEN)
    assert status == 200 and log["data"][0]["target_id"] == issued["admin_token"]["id"]
    assert narrow not in json.dumps(log)
    status, _, log = call("GET", f"/api/orgs/{ORG}/audit-log?action=org.bootstrap", token=ADMIN_TOKEN)
    assert status == 200 and len(log["data"]) == 1


def test_agent_tokens_are_refused_with_a_pointer_to_the_data_plane():
    status, _, error = call("GET", "/api/me", token=AGENT_TOKEN)
    assert status == 401 and "data plane" in error["error"]["message"]
    assert AGENT_TOKEN not in json.dumps(error)


def test_the_openapi_document_describes_the_api():
    status, _, document = call("GET", "/api/openapi.json")
    assert status == 200 and document["openapi"] == "3.1.0"
    members = document["paths"]["/api/orgs/{org}/members"]["get"]
    assert members["x-rungate-action"] == "members.read"
    assert "404" in members["responses"]
