"""Webhook delivery against real receiver processes: signatures checked with the README's own helpers,
rotation, replay protection, a receiver that is down and comes back, ordering, isolation between
subscriptions, and approval decisions from signed links."""
import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

from conftest import DATA_URL, api, remember
from webhook_receiver import Receiver, subscribe
from test_approvals import GATE, PROD
from test_control_plane import ADMIN_TOKEN, ORG, call
from test_governance import governed

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
CONTROL_URL = os.environ["E2E_CONTROL_URL"]


def readme_block(marker):
    """The code block that follows `<!-- marker -->` in the README: the helper users copy."""
    after = README.read_text().split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


HELPERS = {}
exec(readme_block("verify-webhook-python"), HELPERS)
verify = HELPERS["verify_rungate_webhook"]


def shell_verify(secret, timestamp, header, body):
    path = pathlib.Path(os.environ["E2E_WORK"]) / f"body-{time.monotonic_ns()}.json"
    path.write_bytes(body)
    return subprocess.run(["bash", "-c", readme_block("verify-webhook-shell"), "verify", secret, str(timestamp), header, str(path)]).returncode


def send_test(webhook):
    status, _, delivery = call("POST", f"/api/orgs/{ORG}/webhooks/{webhook}/test", token=ADMIN_TOKEN, body={})
    assert status == 202, delivery
    return delivery


def test_deliveries_are_signed_and_the_readme_helpers_verify_them():
    receiver = Receiver().start()
    try:
        webhook, secret = subscribe(receiver.url)
        queued = send_test(webhook)
        got = receiver.wait_for(1)[0]
        headers, body = got["headers"], got["body"].encode()
        assert headers["x-rungate-event"] == "webhook.test" and headers["x-rungate-delivery"] == queued["id"]
        event = json.loads(body)
        assert event["type"] == "webhook.test" and event["id"].startswith("evt_") and event["org_id"] == ORG
        assert event["data"] == {"webhook_id": webhook}
        assert verify(secret, headers, body)
        assert not verify(secret.replace("whsec_", "whsec_x"), headers, body), "another secret does not verify"
        assert not verify(secret, headers, body + b" "), "a changed body does not verify"
        # A replay: the same delivery presented more than five minutes after it was signed.
        assert not verify(secret, headers, body, now=int(headers["x-rungate-timestamp"]) + 301)
        assert verify(secret, headers, body, now=int(headers["x-rungate-timestamp"]) + 299)
        assert shell_verify(secret, headers["x-rungate-timestamp"], headers["x-rungate-signature"], body) == 0
        assert shell_verify(secret, headers["x-rungate-timestamp"], headers["x-rungate-signature"], body + b"x") == 1
        assert shell_verify(secret, int(headers["x-rungate-timestamp"]) - 400, headers["x-rungate-signature"], body) == 1
        history = call("GET", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries", token=ADMIN_TOKEN)[2]["data"]
        assert history[0]["id"] == queued["id"] and history[0]["status"] == "succeeded" and history[0]["last_status_code"] == 200
    finally:
        receiver.stop()


def test_a_rotation_signs_with_both_secrets_during_its_grace_window():
    receiver = Receiver().start()
    try:
        webhook, old = subscribe(receiver.url)
        status, _, rotated = call("POST", f"/api/orgs/{ORG}/webhooks/{webhook}/rotate-secret", token=ADMIN_TOKEN, body={"grace_seconds": 3600})
        assert status == 200
        new = rotated["secret"]
        remember(new)
        send_test(webhook)
        got = receiver.wait_for(1)[0]
        headers, body = got["headers"], got["body"].encode()
        assert headers["x-rungate-signature"].count("v1=") == 2
        assert verify(new, headers, body) and verify(old, headers, body)
        # Without grace the old secret stops signing at once.
        newest = call("POST", f"/api/orgs/{ORG}/webhooks/{webhook}/rotate-secret", token=ADMIN_TOKEN, body={"grace_seconds": 0})[2]["secret"]
        remember(newest)
        send_test(webhook)
        got = receiver.wait_for(2)[1]
        headers, body = got["headers"], got["body"].encode()
        assert headers["x-rungate-signature"].count("v1=") == 1
        assert verify(newest, headers, body) and not verify(new, headers, body)
    finally:
        receiver.stop()


def test_a_receiver_that_was_down_gets_every_event_once_in_order_and_blocks_no_one_else():
    down, other = Receiver(), Receiver().start()
    try:
        webhook, secret = subscribe(down.url)
        queued = [send_test(webhook)["id"] for _ in range(6)]
        time.sleep(1.5)  # attempts fail (connection refused) and back off
        # Another subscription is served meanwhile.
        other_webhook, _ = subscribe(other.url)
        send_test(other_webhook)
        other.wait_for(1, timeout=5)
        history = {d["id"]: d for d in call("GET", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries", token=ADMIN_TOKEN)[2]["data"]}
        first = history[queued[0]]
        assert first["status"] == "pending" and first["attempts"] >= 2 and "connect" in first["last_error"], json.dumps(first)
        assert all(history[id]["attempts"] == 0 for id in queued[1:]), "later deliveries wait behind the first (order)"

        down.start()
        got = down.wait_for(6, timeout=30)
        time.sleep(1)
        got = down.received()
        ids = [g["headers"]["x-rungate-delivery"] for g in got]
        assert ids == queued, "each delivery exactly once, in order of creation"
        assert all(verify(secret, g["headers"], g["body"].encode()) for g in got)
        history = call("GET", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries", token=ADMIN_TOKEN)[2]["data"]
        assert {d["status"] for d in history} == {"succeeded"}
    finally:
        for receiver in (down, other):
            if receiver.process and receiver.process.poll() is None:
                receiver.stop()


def test_a_failing_receiver_is_retried_and_the_history_says_why():
    receiver = Receiver().start()
    try:
        pathlib.Path(str(receiver.file) + ".status").write_text("500")
        webhook, _ = subscribe(receiver.url)
        queued = send_test(webhook)
        receiver.wait_for(2, timeout=10)
        history = call("GET", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries", token=ADMIN_TOKEN)[2]["data"][0]
        assert history["status"] == "pending" and history["last_status_code"] == 500 and "HTTP 500" in history["last_error"]
        pathlib.Path(str(receiver.file) + ".status").unlink()
        deadline = time.monotonic() + 15
        while call("GET", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries", token=ADMIN_TOKEN)[2]["data"][0]["status"] != "succeeded":
            assert time.monotonic() < deadline, "the delivery never succeeded"
            time.sleep(0.2)
        # Redelivery by API queues the same event again, as a new delivery.
        status, _, again = call("POST", f"/api/orgs/{ORG}/webhooks/{webhook}/deliveries/{queued['id']}/redeliver", token=ADMIN_TOKEN, body={})
        assert status == 202 and again["event_id"] == queued["event_id"]
        got = receiver.wait_for(len(receiver.received()) + 1)
        assert got[-1]["headers"]["x-rungate-delivery"] == again["id"]
        assert json.loads(got[-1]["body"])["id"] == json.loads(got[0]["body"])["id"], "the same event"
    finally:
        receiver.stop()


def test_a_runs_lifecycle_and_its_governance_reach_subscribers():
    receiver = Receiver().start()
    try:
        subscribe(receiver.url, events=["run.started", "run.ended", "step.blocked", "policy.violation", "policy.drift"])
        client, token, name = governed({"models": {"deny": ["gpt-4o-audio*"]}})
        run = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]).headers["x-rungate-run-id"]
        blocked = client.chat.completions.with_raw_response
        try:
            blocked.create(model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-rungate-run-id": run})
        except Exception:
            pass
        assert api("POST", f"/v1/runs/{run}/end", token=token)[0] == 200
        deadline = time.monotonic() + 15
        while True:
            events = [json.loads(g["body"]) for g in receiver.received()]
            mine = {e["type"]: e["data"] for e in events if run in json.dumps(e["data"]) or e["data"].get("policy") == name}
            if len(mine) == 5:
                break
            assert time.monotonic() < deadline, f"got only {sorted(mine)}"
            time.sleep(0.1)
        assert mine["run.started"]["run_id"] == run and mine["run.ended"]["reason"] == "ended" and "cost_micros" in mine["run.ended"]
        assert mine["step.blocked"]["rule"] == "models.deny[0]" and mine["step.blocked"]["http_status"] == 403
        assert mine["policy.violation"]["code"] == "model_denied" and mine["policy.violation"]["rule"]["policy"] == name
        assert mine["policy.drift"]["kind"] == "model" and mine["policy.drift"]["name"] == "gpt-4o-mini"
    finally:
        receiver.stop()


def page(url, method="GET", data=None):
    request = urllib.request.Request(url, method=method, data=data, headers={"content-type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_approval_requested_carries_signed_links_that_decide_once_as_that_approver():
    receiver = Receiver().start()
    try:
        subscribe(receiver.url, events=["approval.requested"])
        client, _, _ = governed(GATE)
        first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD)
        assert first.status_code == 202
        approval = first.http_response.json()["id"]
        deadline = time.monotonic() + 10
        while True:
            events = [json.loads(g["body"]) for g in receiver.received()]
            mine = [e for e in events if e["data"].get("approval_id") == approval]
            if mine:
                break
            assert time.monotonic() < deadline, "no approval.requested delivery"
            time.sleep(0.1)
        data = mine[0]["data"]
        assert data["proposed_action"]["tool"] == "delete_database" and data["run_id"] == first.headers["x-rungate-run-id"]
        owner = next(a for a in data["approvers"] if a["email"] == os.environ["RUNGATE_OWNER_EMAIL"])
        for link in (owner["approve_url"], owner["reject_url"]):
            remember(link.rsplit("/", 1)[1])
        assert owner["approve_url"].startswith(CONTROL_URL + "/approval-links/")

        status, headers, html = page(owner["approve_url"])
        assert status == 200 and "delete_database" in html and "<form" in html
        assert headers["x-frame-options"] == "DENY" and "default-src 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
        # Opening the link decided nothing.
        assert call("GET", f"/api/orgs/{ORG}/approvals/{approval}", token=ADMIN_TOKEN)[2]["status"] == "pending"
        token = owner["approve_url"].rsplit("/", 1)[1]
        forged = owner["approve_url"][: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert page(forged, "POST", b"reason=")[0] == 404
        assert page(owner["reject_url"].replace("approval-links/", "approval-links/x"), "POST", b"reason=no")[0] == 404

        status, _, html = page(owner["approve_url"], "POST", b"reason=looks+right")
        assert status == 200 and "approved" in html
        assert page(owner["approve_url"], "POST", b"reason=again")[0] == 409, "a link works once"
        assert page(owner["reject_url"], "POST", b"reason=too+late")[0] == 409
        decided = call("GET", f"/api/orgs/{ORG}/approvals/{approval}", token=ADMIN_TOKEN)[2]
        assert decided["status"] == "approved" and decided["reason"] == "looks right" and decided["decided_by"] == owner["user_id"]
        audit = call("GET", f"/api/orgs/{ORG}/audit-log?action=approvals.approve&target_id={approval}", token=ADMIN_TOKEN)[2]["data"]
        assert len(audit) == 1 and audit[0]["actor_type"] == "user" and audit[0]["actor_id"] == owner["user_id"]

        answer = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=PROD, extra_headers={"x-rungate-run-id": first.headers["x-rungate-run-id"]})
        assert answer.status_code == 200 and answer.parse().choices[0].message.tool_calls[0].function.name == "delete_database"
    finally:
        receiver.stop()


def metrics(base):
    with urllib.request.urlopen(base + "/metrics") as response:
        return response.read().decode()


def test_zz_metrics_count_calls_blocks_spend_deliveries_and_exports():
    data = metrics(DATA_URL)
    for name in ("rungate_calls_total{", "rungate_blocks_total{", "rungate_spend_micros_total{", "rungate_call_duration_seconds",
                 "rungate_steps_queued"):
        assert name in data, name
    assert 'rungate_blocks_total{rule="models.deny"}' in data
    control = metrics(CONTROL_URL)
    for name in ("rungate_webhook_attempts_total{", "rungate_webhook_deliveries_pending", "rungate_trace_spans_exported_total"):
        assert name in control, name
