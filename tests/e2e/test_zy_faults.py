"""Faults with the real servers, stopped and restarted inside the test: Redis down for ten seconds
under load (clear refusals, no overspend, no step lost, recovery without a restart of Rungate), and
PostgreSQL down for ten seconds under load (known agents keep being served, steps spool in memory and
on disk and are all written afterwards). Named to run after the other feature tests: an outage may hold the background jobs
(webhook deliveries, trace export) back for one pass deadline, which would perturb their timing."""
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import openai

from conftest import AGENT_TOKEN, DATA2_URL, DATA_URL, sql
from test_control_plane import ADMIN_TOKEN, CONTROL_URL, ORG, call
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


def spooled_files():
    return [name for folder in os.environ["E2E_SPOOL_DIRS"].split(":") if os.path.isdir(folder)
            for name in os.listdir(folder) if name.endswith(".json")]


def count_with_ids(table, ids):
    """Rows of `table` whose id is one of `ids`, asked 1,000 ids at a time: a statement on psql's
    command line may not exceed 128 KB (~3,500 ids), and a fast data plane answers more calls."""
    ids = list(ids)
    return sum(int(sql(f"SELECT count(*) FROM {table} WHERE id = ANY('{{{','.join(ids[i:i + 1000])}}}'::uuid[])"))
               for i in range(0, len(ids), 1000))


def test_postgres_down_for_ten_seconds_under_load_keeps_serving_spools_and_writes_every_step():
    token, agent_id, budget = agent_with_daily_cap(50_000_000)
    ask = dict(model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hello [[words:5]]"}])
    # Each data plane knows the token, the org's keys and budgets, and one run, before the outage.
    known_runs = {}
    for base in (DATA_URL, DATA2_URL):
        answer = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0).chat.completions.with_raw_response.create(**ask)
        known_runs[base] = answer.headers["x-rungate-run-id"]

    results, stop = [], threading.Event()  # (time, status, run id, step id, error body)

    def load(base, continue_run):
        client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=20)
        headers = {"x-rungate-run-id": known_runs[base]} if continue_run else {}
        while not stop.is_set():
            try:
                answer = client.chat.completions.with_raw_response.create(**ask, extra_headers=headers)
                results.append((time.monotonic(), 200, answer.headers["x-rungate-run-id"], answer.headers["x-rungate-step-id"], None))
            except openai.APIStatusError as error:
                results.append((time.monotonic(), error.status_code, None, None, error.body))
            except openai.APIConnectionError as error:
                results.append((time.monotonic(), 0, None, None, str(error)))
            time.sleep(0.01)

    control = []  # (time, status, error body): the control plane's API under the same outage

    def control_load():
        while not stop.is_set():
            request = urllib.request.Request(f"{CONTROL_URL}/api/orgs/{ORG}/agents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            # A request let in before the health check saw the outage waits in the pool's queue until
            # PostgreSQL is back or the pool gives up on it (~15 s): 30 s is "never answered".
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    control.append((time.monotonic(), response.status, None))
            except urllib.error.HTTPError as error:
                control.append((time.monotonic(), error.code, json.loads(error.read() or b"null")))
            except OSError as error:
                control.append((time.monotonic(), 0, repr(error)))
            time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(base, continue_run), daemon=True)
               for base in (DATA_URL, DATA2_URL) for continue_run in (False, True)]
    threads.append(threading.Thread(target=control_load, daemon=True))
    for thread in threads:
        thread.start()
    spooled_during_outage = False
    try:
        time.sleep(1)
        down_at = time.monotonic()
        postgres("stop")
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                spooled_during_outage = spooled_during_outage or bool(spooled_files())
                time.sleep(0.2)
            # The control plane (once its health check has seen the outage) says so; a run no data plane knows cannot be looked up.
            status, headers, body = call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)
            assert status == 503 and body["error"]["code"] == "database_unavailable" and headers["retry-after"], body
            try:
                openai.OpenAI(base_url=DATA_URL + "/v1", api_key=AGENT_TOKEN, max_retries=0, timeout=20).chat.completions.create(
                    **ask, extra_headers={"x-rungate-run-id": "5f8d3a8e-0000-4000-8000-000000000001"})
            except openai.APIStatusError as error:  # an unknown run needs the database
                assert error.status_code == 503 and error.body["code"] == "database_unavailable", error.body
                assert error.body["rungate"]["recovery"]
            else:
                raise AssertionError("a call on an unknown run went through without its database")
        finally:
            postgres("start")
        up_at = time.monotonic()
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)

    # Requests the outage caught mid-way (their session ended, or their query lost on a closing
    # connection) are answered like those it refused: 503 database_unavailable, never 500, never silence.
    refused = [body for _, status, body in control if status == 503]
    assert {status for _, status, _ in control} <= {200, 503} and refused, [
        (round(at - down_at, 2), status, body) for at, status, body in control if status not in (200, 503)][:3]
    assert all(body["error"]["code"] == "database_unavailable" for body in refused), refused[:3]

    statuses = {status for _, status, *_ in results}
    during = [status for at, status, *_ in results if down_at + 0.5 < at < up_at - 0.1]
    assert statuses == {200}, f"every call answered while PostgreSQL was away, got {statuses}: " + str(
        [(round(at - down_at, 2), body) for at, status, *_, body in results if status != 200][:3])
    assert len(during) > 50, f"the load kept going through the outage ({len(during)} calls)"
    assert spooled_during_outage, "steps past the memory buffer went to the disk spool"

    # Every call is a step, written once PostgreSQL is back: the new runs, and the runs already known.
    step_ids = [step for _, _, _, step, _ in results]
    run_ids = {run for _, _, run, _, _ in results}
    deadline = time.monotonic() + 90
    while (written := count_with_ids("steps", step_ids)) != len(step_ids):
        assert time.monotonic() < deadline, f"{written} of {len(step_ids)} steps written after the outage"
        time.sleep(0.5)
    assert count_with_ids("runs", run_ids) == len(run_ids)
    for base, run_id in known_runs.items():
        calls = 1 + sum(1 for _, _, run, _, _ in results if run == run_id)
        assert int(sql(f"SELECT step_count FROM runs WHERE id = '{run_id}'")) == calls, f"{base}'s known run counts each of its steps once"
    deadline = time.monotonic() + 30
    while spooled_files():
        assert time.monotonic() < deadline, "the spool empties once its steps are written"
        time.sleep(0.2)

    # Budgets were enforced from Redis throughout, and the spend written afterwards matches the steps.
    deadline = time.monotonic() + 30
    while True:
        durable = int(sql(f"SELECT coalesce(sum(spent_micros), 0) FROM budget_spend WHERE budget_id = '{budget['id']}'"))
        charged = int(sql(f"SELECT coalesce(sum(s.cost_micros), 0) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.agent_id = '{agent_id}'"))
        if durable == charged > 0:
            break
        assert time.monotonic() < deadline, (durable, charged)
        time.sleep(0.3)
    status, _, read = call("GET", f"/api/orgs/{ORG}/budgets/{budget['id']}", token=ADMIN_TOKEN)
    assert status == 200 and read["spend"]["spent_micros"] == durable, read
