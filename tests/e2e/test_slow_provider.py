"""A provider that stops answering (it would take 30 s; the data planes here give up after a 2 s read
timeout) while other calls go on: each slow call is a clean 504 and a step (a stream already begun is
ended, and recorded as interrupted), its budget reservation is released, and the calls beside it are
answered as usual on both replicas."""
import threading
import time

import openai

from conftest import DATA2_URL, DATA_URL, sql
from test_budgets import agent_with_daily_cap
from test_control_plane import ADMIN_TOKEN, ORG, call


def test_a_provider_silent_for_30_s_under_load_gives_clean_504s_and_leaves_other_calls_alone():
    token, agent_id, budget = agent_with_daily_cap(50_000_000)
    slow = dict(model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "think hard [[latency:30000]] [[words:5]]"}])
    fast = dict(model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "quick [[words:3]]"}])
    slow_results, fast_results, lock = [], [], threading.Lock()
    slow_pending = threading.Event()

    def slow_call(base, streaming):
        client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=60)
        try:
            if streaming:
                stream = client.chat.completions.create(**slow, stream=True)
                run_id = stream.response.headers["x-rungate-run-id"]
                try:
                    for _ in stream:
                        pass
                    outcome = ("stream", 200, None, run_id)
                except openai.APIConnectionError:  # the stream had begun: it can only be cut off
                    outcome = ("stream", "cut", None, run_id)
            else:
                client.chat.completions.create(**slow)
                outcome = ("plain", 200, None, None)
        except openai.APIStatusError as error:
            outcome = ("stream" if streaming else "plain", error.status_code, error.body, error.response.headers.get("x-rungate-run-id"))
        with lock:
            slow_results.append(outcome)

    def fast_calls(base):
        client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=60)
        slow_pending.wait()
        for _ in range(10):
            answer = client.chat.completions.with_raw_response.create(**fast)
            with lock:
                fast_results.append((answer.status_code, len(slow_results)))

    slow_threads = [threading.Thread(target=slow_call, args=(base, streaming))
                    for base in (DATA_URL, DATA2_URL) for streaming in (False, True) for _ in range(4)]
    fast_threads = [threading.Thread(target=fast_calls, args=(base,)) for base in (DATA_URL, DATA2_URL)]
    for thread in slow_threads + fast_threads:
        thread.start()
    slow_pending.set()
    for thread in slow_threads + fast_threads:
        thread.join(90)

    assert len(slow_results) == 16 and len(fast_results) == 20, (slow_results, fast_results)
    assert all(status == 200 for status, _ in fast_results)
    assert any(done < 16 for _, done in fast_results), "fast calls were answered while slow ones were pending"
    for kind, status, body, run_id in slow_results:
        assert run_id
        if kind == "plain" or status != "cut":
            assert status == 504 and body["code"] == "provider_timeout" and body["rungate"]["recovery"], (kind, status, body)
    cut = sum(1 for _, status, _, _ in slow_results if status == "cut")
    run_ids = [run_id for _, _, _, run_id in slow_results]
    deadline = time.monotonic() + 10
    while True:
        rows = sql(f"SELECT string_agg(status || '/' || error_code, ',') FROM steps WHERE run_id = ANY('{{{','.join(run_ids)}}}'::uuid[])")
        recorded = sorted(rows.split(",")) if rows else []
        if len(recorded) == 16:
            break
        assert time.monotonic() < deadline, f"every slow call is a step: {recorded}"
        time.sleep(0.2)
    assert recorded == sorted(["incomplete/stream_interrupted"] * cut + ["timeout/provider_timeout"] * (16 - cut)), recorded
    # Nothing stays reserved: each slow call's worst-case reservation was released, the fast ones settled.
    while True:
        status, _, read = call("GET", f"/api/orgs/{ORG}/budgets/{budget['id']}", token=ADMIN_TOKEN)
        if status == 200 and read["spend"]["reserved_micros"] == 0:
            break
        assert time.monotonic() < deadline, read
        time.sleep(0.2)
    charged = int(sql(f"SELECT coalesce(sum(s.cost_micros), 0) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.agent_id = '{agent_id}'"))
    assert read["spend"]["spent_micros"] == charged > 0
