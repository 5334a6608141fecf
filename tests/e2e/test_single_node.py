"""A single data plane with no Redis configured (DESIGN's single-node mode): its counters live in
process. The real SDKs against it: calls pass and are recorded, and rate limits, loop detection and
budgets (with their alerts) hold just as with Redis."""
import os
import time

import anthropic
import openai
import pytest

from conftest import api, steps_of
from test_budgets import agent_with_daily_cap, concurrent_calls_hold_a_run_cap
from test_governance import ask, governed
from webhook_receiver import Receiver, subscribe

SINGLE_URL = os.environ["E2E_SINGLE_NODE_URL"]


def test_it_warns_at_start_and_serves_both_sdks_streaming_and_not():
    with open(os.environ["E2E_SINGLE_NODE_LOG"]) as log:
        assert "correct only as a SINGLE node" in log.read()
    client, token, _ = governed({"max_steps_per_run": 100}, base=SINGLE_URL)
    raw = ask(client, "hello [[words:5]]")
    run = {"x-rungate-run-id": raw.headers["x-rungate-run-id"]}
    assert raw.parse().choices[0].message.content
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True, extra_headers=run,
                                                 messages=[{"role": "user", "content": "count [[words:20]]"}]))
    assert len(chunks) > 2 and "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    claude = anthropic.Anthropic(base_url=SINGLE_URL, api_key=token, max_retries=0)
    message = claude.messages.create(model="claude-sonnet-4-6", max_tokens=50, extra_headers=run,
                                     messages=[{"role": "user", "content": "hi [[words:5]]"}])
    assert message.content[0].text
    steps = steps_of(run["x-rungate-run-id"], 3, token=token, base=SINGLE_URL)
    assert [s["kind"] for s in steps] == ["model_call"] * 3 and all(s["cost_micros"] > 0 for s in steps)


def test_rate_limits_and_loop_detection_count_in_process():
    client, _, _ = governed({"rate_limits": [{"scope": "agent", "requests_per_minute": 3}]}, base=SINGLE_URL)
    remaining = [int(ask(client).headers["x-ratelimit-remaining"]) for _ in range(3)]
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as limited:
        ask(client)
    assert limited.value.body["code"] == "rate_limited" and 1 <= int(limited.value.response.headers["retry-after"]) <= 60

    looping, _, _ = governed({"loop_detection": {"max_repeats": 2, "window_seconds": 60}}, base=SINGLE_URL)
    first = ask(looping, "same question")
    again = {"x-rungate-run-id": first.headers["x-rungate-run-id"]}
    ask(looping, "same question", extra_headers=again)
    with pytest.raises(openai.PermissionDeniedError) as loop:
        ask(looping, "same question", extra_headers=again)
    assert loop.value.body["code"] == "loop_detected"


def test_a_run_cap_holds_under_thirty_two_concurrent_calls():
    token, run_id, spent = concurrent_calls_hold_a_run_cap((SINGLE_URL,), 32)
    # The run's cost is written with its steps, a moment after the answers.
    deadline = time.monotonic() + 5
    while (run := api("GET", f"/v1/runs/{run_id}", token=token, base=SINGLE_URL)[2])["cost_micros"] != spent:
        assert time.monotonic() < deadline, f"the run's cost is {run['cost_micros']}, its answered calls cost {spent}"
        time.sleep(0.1)


def test_a_day_budget_refuses_past_its_cap_and_announces_each_line_once():
    receiver = Receiver().start()
    subscribe(receiver.url, events=["budget.threshold", "budget.exceeded"])
    token, _, budget = agent_with_daily_cap(300, alert_threshold_percent=50)
    client = openai.OpenAI(base_url=SINGLE_URL + "/v1", api_key=token, max_retries=0)
    refused = None
    for _ in range(8):
        try:
            client.chat.completions.create(model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": "go [[words:80]]"}])
        except openai.APIStatusError as error:
            refused = error
    assert refused is not None and refused.status_code == 402 and refused.body["rungate"]["period"] == "day"
    deadline = time.monotonic() + 10
    while "budget.threshold" not in [e["type"] for e in receiver.events() if e["data"]["budget_id"] == budget["id"]]:
        assert time.monotonic() < deadline, "no budget.threshold event"
        time.sleep(0.1)
    time.sleep(0.5)
    counts = sorted(e["type"] for e in receiver.events() if e["data"]["budget_id"] == budget["id"])
    receiver.stop()
    assert counts in (["budget.threshold"], ["budget.exceeded", "budget.threshold"]), "each line announced once"
