"""Faults with the real servers, stopped and restarted inside the test: Redis down for ten seconds
under load (clear refusals, no overspend, no step lost, recovery without a restart of Rungate), and
PostgreSQL down. Named to run after the other feature tests: an outage may hold the background jobs
(webhook deliveries, trace export) back for one pass deadline, which would perturb their timing."""
import os
import subprocess
import threading
import time
import urllib.parse

import openai

from conftest import AGENT_TOKEN, DATA2_URL, DATA_URL, sql, steps_of
from test_control_plane import ADMIN_TOKEN, ORG, call
from test_budgets import agent_with_daily_cap

REDIS_PORT = str(urllib.parse.urlsplit(os.environ["RUNGATE_TEST_REDIS_URL"]).port)
REDIS_DIR = os.environ["RUNGATE_TEST_REDIS_SERVER_DIR"]


def redis_ping():
    return subprocess.run(["redis-cli", "-p", REDIS_PORT, "ping"], capture_output=True, text=True).stdout.strip() == "PONG"


def stop_redis():
    subprocess.run(["redis-cli", "-p", REDIS_PORT, "shutdown", "nosave"], capture_output=True)
    deadline = time.monotonic() + 5
    while redis_ping():
        assert time.monotonic() < deadline, "Redis did not stop"
        time.sleep(0.05)


def start_redis():
    # The same server scripts/test started: same port and folder, and no persistence — it comes
    # back empty, as a Redis without persistence does after a crash.
    subprocess.run(["redis-server", "--port", REDIS_PORT, "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", REDIS_DIR,
                    "--daemonize", "yes", "--pidfile", f"{REDIS_DIR}/redis.pid", "--logfile", f"{REDIS_DIR}/redis.log",
                    "--save", "", "--appendonly", "no"], check=True)
    deadline = time.monotonic() + 5
    while not redis_ping():
        assert time.monotonic() < deadline, "Redis did not start again"
        time.sleep(0.05)


def test_redis_down_for_ten_seconds_under_load_refuses_clearly_loses_nothing_and_recovers():
    token, agent_id, budget = agent_with_daily_cap(5_000_000)
    ask = dict(model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hello [[words:5]]"}])
    for _ in range(5):  # some spend before the outage, which the counter must not forget
        openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token, max_retries=0).chat.completions.create(**ask)

    results, stop = [], threading.Event()

    def load(base):
        client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=10)
        while not stop.is_set():
            try:
                client.chat.completions.create(**ask)
                results.append((time.monotonic(), 200, None))
            except openai.APIStatusError as error:
                results.append((time.monotonic(), error.status_code, error.body))
            except openai.APIConnectionError as error:
                results.append((time.monotonic(), 0, str(error)))
            time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(base,), daemon=True) for base in (DATA_URL, DATA2_URL, DATA_URL, DATA2_URL)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        down_at = time.monotonic()
        stop_redis()
        time.sleep(10)
        start_redis()
        up_at = time.monotonic()
        # Recovery without restarting Rungate: calls succeed again within a few seconds.
        deadline = up_at + 15
        while not any(at > up_at and status == 200 for at, status, _ in list(results)):
            assert time.monotonic() < deadline, "calls did not recover after Redis came back"
            time.sleep(0.1)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        if not redis_ping():
            start_redis()

    statuses = {status for _, status, _ in results}
    assert statuses <= {200, 503}, f"only answers and clear refusals, got {statuses}"
    refused = [body for _, status, body in results if status == 503]
    assert refused and all(body["code"] == "redis_unavailable" for body in refused)
    assert all("Redis" in body["message"] and body["rungate"]["recovery"] for body in refused)
    during = [status for at, status, _ in results if down_at + 0.5 < at < up_at - 0.1]
    assert during and set(during) == {503}, "budgets never fail open: nothing went out while Redis was down"

    # No step lost: every call made (5 before, and each of the load's) is a step of the agent's runs.
    calls = 5 + len(results)
    deadline = time.monotonic() + 10
    while (steps := int(sql(f"SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.agent_id = '{agent_id}'"))) != calls:
        assert time.monotonic() < deadline, f"{steps} steps for {calls} calls"
        time.sleep(0.2)

    # The live counter Redis lost came back from the durable spend: it equals what Postgres holds.
    deadline = time.monotonic() + 10
    while True:
        durable = int(sql(f"SELECT coalesce(sum(spent_micros), 0) FROM budget_spend WHERE budget_id = '{budget['id']}'"))
        status, _, read = call("GET", f"/api/orgs/{ORG}/budgets/{budget['id']}", token=ADMIN_TOKEN)
        live = read.get("spend") if status == 200 else read
        if status == 200 and live["spent_micros"] == durable and live["reserved_micros"] == 0:
            break
        assert time.monotonic() < deadline, (live, durable)
        time.sleep(0.2)
    charged = int(sql(f"SELECT coalesce(sum(s.cost_micros), 0) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.agent_id = '{agent_id}'"))
    assert durable == charged > 0, "spend in Postgres equals the sum of the steps' costs"


def postgres(action):
    """Stops or starts the PostgreSQL server scripts/test started (same folder and port)."""
    port = urllib.parse.urlsplit(os.environ["RUNGATE_TEST_DATABASE_URL"]).port
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    command = (f'source "{root}/scripts/lib.sh"; ' + (f'stop_postgres "$DIR"' if action == "stop" else f'PG_FSYNC=off start_postgres "$DIR" {port} unused'))
    subprocess.run(["bash", "-c", command], env={**os.environ, "DIR": os.environ["RUNGATE_TEST_POSTGRES_DIR"]}, check=True)


def test_postgres_down_answers_clear_503s_on_both_planes_and_both_recover():
    client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0, timeout=20)
    ask = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    client.chat.completions.create(**ask)  # the token is cached: authentication needs no database
    postgres("stop")
    try:
        try:
            client.chat.completions.create(**ask)
            raise AssertionError("a call went through without its database")
        except openai.APIStatusError as error:
            assert error.status_code == 503 and error.body["code"] == "database_unavailable", error.body
            assert "database" in error.body["message"] and error.body["rungate"]["recovery"]
        status, headers, body = call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)
        assert status == 503 and body["error"]["code"] == "database_unavailable" and headers["retry-after"], body
    finally:
        postgres("start")
    # Both planes recover by themselves (each data plane's pool reconnects on its own schedule).
    second = openai.OpenAI(base_url=DATA2_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0, timeout=20)
    deadline = time.monotonic() + 60
    recovered = set()
    while len(recovered) < 3:
        for name, attempt in (("data", lambda: client.chat.completions.create(**ask)), ("data2", lambda: second.chat.completions.create(**ask)),
                              ("control", lambda: call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)[0] == 200 or 1 / 0)):
            if name in recovered:
                continue
            try:
                attempt()
                recovered.add(name)
            except (openai.APIStatusError, ZeroDivisionError):
                pass
        assert time.monotonic() < deadline, f"only {recovered} recovered after PostgreSQL came back"
        time.sleep(0.3)
    # And steps are written again (the step writer retried through the outage).
    for base in (DATA_URL, DATA2_URL):
        answer = openai.OpenAI(base_url=base + "/v1", api_key=AGENT_TOKEN, max_retries=0).chat.completions.with_raw_response.create(**ask)
        assert steps_of(answer.headers["x-rungate-run-id"], 1, timeout=15), f"no step written on {base} after the outage"
