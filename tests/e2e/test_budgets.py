"""Budgets in the data plane: reservation before forwarding, settlement after, 402 with full context,
and the cap held under 64 concurrent calls spread over both replicas."""
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conftest import DATA2_URL, DATA_URL, api, sql
from test_agent_auth import metric
from test_control_plane import ADMIN_TOKEN, ORG, call
from test_governance import agent
from webhook_receiver import Receiver, subscribe


def agent_with_run_cap(cap_micros):
    token = agent()
    agent_id = sql(f"SELECT agent_id FROM agent_tokens WHERE token_hash = encode(sha256('{token}'::bytea), 'hex')")
    status, _, budget = call("POST", f"/api/orgs/{ORG}/budgets", token=ADMIN_TOKEN,
                             body={"scope": "run", "scope_id": agent_id, "period": "run", "cap_micros": cap_micros})
    assert status == 201, budget
    return token, agent_id


def test_a_run_over_its_cap_gets_402_with_scope_cap_spent_and_reserved():
    # gpt-4o-mini: 0.15 $/Mtok in, 0.60 $/Mtok out. max_tokens 100 reserves about 60 µ$ of output.
    token, _ = agent_with_run_cap(200)
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token, max_retries=0)
    run = {"x-rungate-run-id": str(uuid.uuid4())}
    answered, refused = 0, None
    for _ in range(10):
        try:
            client.chat.completions.create(model="gpt-4o-mini", max_tokens=100, extra_headers=run,
                                           messages=[{"role": "user", "content": "go [[words:50]]"}])
            answered += 1
        except openai.APIStatusError as error:
            refused = error
            break
    assert 1 <= answered < 10 and refused is not None and refused.status_code == 402
    body = refused.body
    assert body["code"] == "budget_exceeded" and body["rungate"]["rule"]["rule"] == "budget.run"
    details = body["rungate"]  # scope, cap, spent, reserved (and resets_at for day/month) sit beside the rule
    assert details["scope"] == "run" and details["cap_micros"] == 200
    assert details["spent_micros"] + details["reserved_micros"] + details["this_call_reserve_micros"] > 200
    status, _, run_row = api("GET", f"/v1/runs/{run['x-rungate-run-id']}", token=token)
    assert run_row["cost_micros"] <= 200


def concurrent_calls_hold_a_run_cap(bases, calls, cap=2_000):
    """`calls` calls at once on one run with a cap of `cap`, spread over the data planes at `bases`:
    some are answered, the rest refused with 402, and what the answered ones spent (priced as the
    proxy prices gpt-4o-mini) passes the cap by one call's cost at most. Returns (token, run id, spent)."""
    token, _ = agent_with_run_cap(cap)
    run_id = str(uuid.uuid4())
    clients = [openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0) for base in bases]

    def one(index):
        try:
            completion = clients[index % len(clients)].chat.completions.create(
                model="gpt-4o-mini", max_tokens=200, extra_headers={"x-rungate-run-id": run_id},
                messages=[{"role": "user", "content": f"call {index} [[words:150]] [[latency:20]]"}])
            return ("ok", completion.usage.prompt_tokens, completion.usage.completion_tokens)
        except openai.APIStatusError as error:
            return (error.status_code, error.body)

    with ThreadPoolExecutor(max_workers=calls) as pool:
        results = list(pool.map(one, range(calls)))
    ok = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] != "ok"]
    assert ok and refused, "the cap must let some calls through and refuse others"
    assert all(status == 402 and body["rungate"]["scope"] == "run" and body["rungate"]["cap_micros"] == cap
               for status, body in refused), [r[:2] for r in refused][:3]
    # Settled spend: every answered call's actual cost, priced as the proxy prices it.
    one_call = max((p * 150_000 + c * 600_000 + 500_000) // 1_000_000 for _, p, c in ok)
    spent = sum((p * 150_000 + c * 600_000 + 500_000) // 1_000_000 for _, p, c in ok)
    assert spent <= cap + one_call, f"{len(ok)} calls spent {spent} µ$ against a cap of {cap}"
    return token, run_id, spent


def test_an_agent_calling_every_second_never_waits_for_its_orgs_budgets_to_be_read_again():
    # The data plane keeps an org's budgets 5 s; asked for in the second half of that, they are read
    # again in the background while the call goes on with them.
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=agent(), max_retries=0)
    def ask():
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    ask()  # the first call may wait for them
    waits = metric("rungate_cache_waits_total", '{cache="budgets"}')
    refreshes = metric("rungate_cache_refreshes_total", '{cache="budgets"}')
    for _ in range(8):
        time.sleep(1)
        ask()
    assert metric("rungate_cache_waits_total", '{cache="budgets"}') == waits, "a call waited for the budgets to be read"
    assert metric("rungate_cache_refreshes_total", '{cache="budgets"}') >= refreshes + 1


def test_sixty_four_concurrent_calls_on_two_replicas_never_overspend_a_run_cap():
    concurrent_calls_hold_a_run_cap((DATA_URL, DATA2_URL), 64)


def agent_with_daily_cap(cap_micros, **extra):
    """A new agent's token and id, and a daily budget of `cap_micros` on it."""
    token = agent()
    agent_id = sql(f"SELECT agent_id FROM agent_tokens WHERE token_hash = encode(sha256('{token}'::bytea), 'hex')")
    status, _, budget = call("POST", f"/api/orgs/{ORG}/budgets", token=ADMIN_TOKEN,
                             body={"scope": "agent", "scope_id": agent_id, "period": "day", "cap_micros": cap_micros, **extra})
    assert status == 201, budget
    # A new budget reaches each data plane by notification, within a second (README): a call made
    # before its replica heard of it is not counted against it, and tests that compare the budget's
    # durable spend with every step of the agent (the fault tests) would find it missing — seen once
    # on a loaded machine, by one call's cost.
    time.sleep(1)
    return token, agent_id, budget


def test_crossing_the_alert_threshold_and_the_cap_emit_events_once():
    receiver = Receiver().start()
    subscribe(receiver.url, events=["budget.threshold", "budget.exceeded"])
    token, _, budget = agent_with_daily_cap(300, alert_threshold_percent=50)
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token, max_retries=0)
    for _ in range(8):
        try:
            client.chat.completions.create(model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": "go [[words:80]]"}])
        except openai.APIStatusError as error:
            assert error.status_code == 402
    deadline = time.monotonic() + 10
    while True:
        counts = sorted(e["type"] for e in receiver.events() if e["data"]["budget_id"] == budget["id"])
        if "budget.threshold" in counts or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    counts = sorted(e["type"] for e in receiver.events() if e["data"]["budget_id"] == budget["id"])
    receiver.stop()
    assert counts in (["budget.threshold"], ["budget.exceeded", "budget.threshold"]), "each line announced once"
    status, _, read = call("GET", f"/api/orgs/{ORG}/budgets/{budget['id']}", token=ADMIN_TOKEN)
    assert read["spend"]["source"] == "redis" and read["spend"]["spent_micros"] >= 150 and read["spend"]["reserved_micros"] == 0
    # The durable spend is written in batches (every second): it catches up with the live counter.
    deadline = time.monotonic() + 5
    while sql(f"SELECT spent_micros FROM budget_spend WHERE budget_id = '{budget['id']}'") != str(read["spend"]["spent_micros"]):
        assert time.monotonic() < deadline, "budget_spend did not catch up with the live counter"
        time.sleep(0.1)


def test_without_redis_governed_calls_fail_closed_and_only_rate_limits_may_fail_open():
    import os
    from test_governance import policy

    name, _ = policy({"rate_limits": [{"scope": "agent", "requests_per_minute": 1000}]})
    limited = agent(f"{name}@1")
    for base, expected in ((os.environ["E2E_NOREDIS_URL"], 503), (os.environ["E2E_FAILOPEN_URL"], 200)):
        client = openai.OpenAI(base_url=base + "/v1", api_key=limited, max_retries=0)
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            status = 200
        except openai.APIStatusError as error:
            status = error.status_code
            assert error.body["code"] == "redis_unavailable" and "Retry" in error.body["message"] + error.body["rungate"]["recovery"]
        assert status == expected, base
    # Budgets never fail open, whatever the rate-limit setting.
    capped, _ = agent_with_run_cap(1_000_000)
    for base in (os.environ["E2E_NOREDIS_URL"], os.environ["E2E_FAILOPEN_URL"]):
        client = openai.OpenAI(base_url=base + "/v1", api_key=capped, max_retries=0)
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert refused.value.status_code == 503


def test_a_killed_data_plane_releases_its_reservations_when_their_lease_runs_out():
    """SIGKILL mid-stream: the reservation it held blocks the cap only until its lease runs out."""
    import os
    import signal
    import socket
    import subprocess
    import threading

    # One call reserves about 600 µ$ (1000 output tokens of gpt-4o-mini); two do not fit under 1000.
    token, _, budget = agent_with_daily_cap(1000)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    doomed = subprocess.Popen([os.environ["E2E_BIN"] + "/rungate-data", "--port", str(port), "--log-level", "warning"],
                              env={**os.environ, "RUNGATE_DATABASE_URL": os.environ["E2E_DATA_DB_URL"],
                                   "RUNGATE_REDIS_URL": os.environ["RUNGATE_TEST_REDIS_URL"], "RUNGATE_RESERVATION_LEASE_SECONDS": "3"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if api("GET", "/readyz", base=f"http://127.0.0.1:{port}")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the extra data plane did not start"
        time.sleep(0.1)
    ask = dict(model="gpt-4o-mini", max_tokens=1000, messages=[{"role": "user", "content": "slowly [[latency:400]] [[words:40]]"}])
    started = threading.Event()

    def stream():
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0)
        try:
            for _ in client.chat.completions.create(stream=True, **ask):
                started.set()
        except Exception:
            pass
    threading.Thread(target=stream, daemon=True).start()
    assert started.wait(10), "the stream never started"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(5)

    quick = dict(model="gpt-4o-mini", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    survivor = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token, max_retries=0)
    with pytest.raises(openai.APIStatusError) as held:
        survivor.chat.completions.create(**quick)
    assert held.value.status_code == 402 and held.value.body["rungate"]["reserved_micros"] > 0
    time.sleep(3.5)
    assert survivor.chat.completions.with_raw_response.create(**quick).status_code == 200, "the dead call's reservation was released"
    deadline = time.monotonic() + 5
    while (spend := call("GET", f"/api/orgs/{ORG}/budgets/{budget['id']}", token=ADMIN_TOKEN)[2]["spend"])["reserved_micros"] != 0:
        assert time.monotonic() < deadline, spend
        time.sleep(0.1)
    assert spend["spent_micros"] < 100, "nothing was charged for the killed call's reservation"
