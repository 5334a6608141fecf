"""Runs exported as OpenTelemetry traces to an OTLP/HTTP receiver process (tests/e2e/receiver.py, started by
run.sh), decoded here; and the metrics each service serves."""
import json
import os
import time

import openai
import pytest

from conftest import api, steps_of
from test_governance import governed



def exported_spans(trace_id):
    """Every span the collector received for `trace_id`, decoded from the OTLP/JSON requests."""
    spans = []
    path = os.environ["E2E_OTLP_FILE"]
    if not os.path.exists(path):
        return spans
    with open(path) as file:
        for line in file:
            request = json.loads(line)
            assert request["path"] == "/v1/traces" and request["headers"]["content-type"] == "application/json"
            for resource in json.loads(request["body"])["resourceSpans"]:
                resource_attributes = {a["key"]: next(iter(a["value"].values())) for a in resource["resource"]["attributes"]}
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        if span["traceId"] == trace_id:
                            span["attributes"] = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
                            span["resource"] = resource_attributes
                            spans.append(span)
    return spans


def wait_for_spans(trace_id, count, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = exported_spans(trace_id)
        if len(spans) >= count:
            return spans
        time.sleep(0.2)
    raise AssertionError(f"expected {count} spans of trace {trace_id}, got {len(exported_spans(trace_id))}")


def test_a_run_is_one_trace_with_a_span_per_step_and_genai_attributes():
    client, token, name = governed({"models": {"deny": ["gpt-4o-audio*"]}})
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi [[words:3]]"}])
    run = first.headers["x-rungate-run-id"]
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"x-rungate-run-id": run})
    steps = steps_of(run, 2, token=token)
    assert api("POST", f"/v1/runs/{run}/end", token=token)[0] == 200

    trace_id = run.replace("-", "")
    spans = wait_for_spans(trace_id, 3)
    time.sleep(0.5)
    spans = exported_spans(trace_id)
    assert len(spans) == 3, "one root span and one per step, each exported once"
    root = next(s for s in spans if "parentSpanId" not in s)
    children = [s for s in spans if s.get("parentSpanId") == root["spanId"]]
    assert len(children) == 2
    assert root["attributes"]["rungate.run_id"] == run and root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["resource"]["service.name"] == "rungate" and root["resource"]["rungate.org_id"] == os.environ["RUNGATE_ORG_ID"]

    by_step = {s["attributes"]["rungate.step_id"]: s for s in children}
    call, block = (by_step[step["id"]] for step in steps)
    assert call["name"] == "chat gpt-4o-mini" and call["kind"] == 3 and call["status"]["code"] == 1
    assert call["attributes"]["gen_ai.system"] == "openai" and call["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert int(call["attributes"]["gen_ai.usage.input_tokens"]) == steps[0]["usage"]["input_tokens"]
    assert int(call["attributes"]["gen_ai.usage.output_tokens"]) == 3
    assert int(call["attributes"]["rungate.cost_micros"]) == steps[0]["cost_micros"] > 0
    assert call["attributes"]["rungate.decision"] == "ok"
    assert block["attributes"]["rungate.decision"] == "blocked" and block["attributes"]["rungate.rule"] == "models.deny[0]"
    assert block["status"]["code"] == 2 and block["status"]["message"] == "model_denied"
    assert int(root["startTimeUnixNano"]) <= int(call["startTimeUnixNano"]) <= int(call["endTimeUnixNano"]) <= int(root["endTimeUnixNano"])


def test_a_running_run_is_exported_once_idle_and_later_steps_join_the_same_trace():
    client, token, _ = governed({})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one"}]}
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(**body, extra_headers={"x-mock-error": "503"})
    run = raised.value.response.headers["x-rungate-run-id"]
    trace_id = run.replace("-", "")
    assert len(wait_for_spans(trace_id, 2)) == 2  # idle for 2 s: root + the step
    # The agent retries: exported later, in a part of its own, and still labelled from the failure before it.
    client.chat.completions.create(**body, extra_headers={"x-rungate-run-id": run})
    spans = wait_for_spans(trace_id, 3)
    assert len(spans) == 3 and len({s["spanId"] for s in spans}) == 3
    assert sum("parentSpanId" not in s for s in spans) == 1
    failed, retry = sorted((s for s in spans if "parentSpanId" in s), key=lambda s: int(s["startTimeUnixNano"]))
    assert failed["attributes"]["rungate.step.kind"] == "model_call" and failed["attributes"]["rungate.decision"] == "upstream_error"
    assert retry["attributes"]["rungate.step.kind"] == "retry" and retry["attributes"]["rungate.decision"] == "ok"
