"""The official OpenAI SDK against the data plane: objects parse, streams are incremental, steps are right."""
import time

import openai
import pytest

from conftest import DATA_URL, api, micros, steps_of

GPT_4O_MINI = (150_000, 600_000)  # shipped default price, micro-dollars per million tokens


def test_chat_completion_records_a_priced_step(oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello [[words:6]]"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "This is a mock answer from"
    run_id = raw.headers["x-rungate-run-id"]
    assert raw.headers["x-rungate-step-id"]
    steps = steps_of(run_id, 1)
    assert len(steps) == 1
    step = steps[0]
    assert step["kind"] == "model_call" and step["status"] == "ok" and step["model"] == "gpt-4o-mini"
    assert step["usage"]["input_tokens"] == completion.usage.prompt_tokens
    assert step["usage"]["output_tokens"] == completion.usage.completion_tokens == 6
    assert step["cost_micros"] == micros(completion.usage.prompt_tokens, 6, *GPT_4O_MINI)
    status, _, run = api("GET", f"/v1/runs/{run_id}")
    assert status == 200 and run["step_count"] == 1 and run["cost_micros"] == step["cost_micros"]


def test_calls_with_the_same_run_id_share_the_run(oai):
    first = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "one"}])
    run_id = first.headers["x-rungate-run-id"]
    second = oai.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "two"}], extra_headers={"x-rungate-run-id": run_id})
    assert second.headers["x-rungate-run-id"] == run_id
    assert len(steps_of(run_id, 2)) == 2


def test_streaming_chunks_arrive_incrementally_and_usage_is_not_forced_on_the_client(oai):
    arrivals, pieces = [], []
    with oai.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", stream=True,
            messages=[{"role": "user", "content": "stream please [[words:6]] [[latency:100]]"}]) as response:
        run_id = response.headers["x-rungate-run-id"]
        for chunk in response.parse():
            arrivals.append(time.monotonic())
            assert chunk.usage is None, "the client did not ask for a usage chunk"
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == "This is a mock answer from"
    # 8 chunks 100 ms apart: buffering the whole answer would deliver them all at once.
    assert arrivals[-1] - arrivals[0] >= 0.4
    step = steps_of(run_id, 1)[0]
    assert step["status"] == "ok" and step["usage"]["output_tokens"] == 6
    assert step["ttft_ms"] is not None and step["ttft_ms"] <= step["latency_ms"]
    assert step["cost_micros"] == micros(step["usage"]["input_tokens"], 6, *GPT_4O_MINI)


def test_streaming_with_include_usage_keeps_the_usage_chunk(oai):
    stream = oai.chat.completions.create(model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": "x [[words:3]]"}])
    usages = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert len(usages) == 1 and usages[0].completion_tokens == 3


def test_streaming_with_usage_declined_is_still_priced_and_the_usage_chunk_withheld(oai):
    # stream_options is there but does not ask for usage: Rungate asks the provider (re-encoding the
    # request with the agent's other options kept) and strips the chunk on the way back.
    with oai.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", stream=True, stream_options={"include_usage": False}, temperature=0.5,
            messages=[{"role": "user", "content": "x [[words:5]]"}]) as response:
        run_id = response.headers["x-rungate-run-id"]
        chunks = list(response.parse())
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "This is a mock answer"
    step = steps_of(run_id, 1)[0]
    assert step["status"] == "ok" and step["usage"]["output_tokens"] == 5
    assert step["cost_micros"] == micros(step["usage"]["input_tokens"], 5, *GPT_4O_MINI) > 0


def test_tool_call_responses_parse(oai):
    completion = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": 'go [[tool:search {"q": "rungate"}]]'}],
        tools=[{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}])
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "search" and call.function.arguments == '{"q": "rungate"}'
    assert completion.choices[0].finish_reason == "tool_calls"


def test_responses_api_streaming_and_not(oai):
    response = oai.responses.create(model="gpt-4.1-mini", input="hello [[words:4]]")
    assert response.output_text == "This is a mock"
    events = [event.type for event in oai.responses.create(model="gpt-4.1-mini", input="hi [[words:2]]", stream=True)]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert events.count("response.output_text.delta") == 2


def test_embeddings_decode_from_base64(oai):
    result = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens >= 1


def test_models_list(oai):
    assert "gpt-4o-mini" in [model.id for model in oai.models.list()]


def test_models_list_failures_answer_as_model_calls_do(oai):
    """GET /v1/models shares the model calls' answers to a failing provider: a provider that goes
    silent past the read timeout (2 s here) is 504 provider_timeout, one that refuses the org's key
    is 502 provider_auth_failed (not a 401 the SDK would take for its own token), other error
    statuses pass through as the provider sent them."""
    with pytest.raises(openai.APIStatusError) as raised:
        oai.models.list(extra_headers={"x-mock-latency-ms": "5000"})
    assert raised.value.status_code == 504 and raised.value.body["code"] == "provider_timeout", raised.value.body
    assert raised.value.body["rungate"]["recovery"] == "Retry; nothing was charged."
    with pytest.raises(openai.InternalServerError) as raised:
        oai.models.list(extra_headers={"x-mock-error": "500"})
    assert raised.value.status_code == 500 and raised.value.body["code"] == "mock_injected_error", raised.value.body
    with pytest.raises(openai.APIStatusError) as raised:
        oai.models.list(extra_headers={"x-mock-error": "401"})
    assert raised.value.status_code == 502 and raised.value.body["code"] == "provider_auth_failed", raised.value.body


def test_a_provider_refusing_the_orgs_key_is_a_502_not_the_agents_401(oai):
    """A model call the provider answers 401 is 502 provider_auth_failed (the agent's own token is
    fine), with its run, and recorded as the provider's refusal."""
    with pytest.raises(openai.APIStatusError) as raised:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-mock-error": "401"})
    assert raised.value.status_code == 502 and raised.value.body["code"] == "provider_auth_failed", raised.value.body
    [step] = steps_of(raised.value.response.headers["x-rungate-run-id"], 1)
    assert step["status"] == "upstream_error" and step["http_status"] == 401, step


def test_wrong_and_malformed_tokens_raise_authentication_errors():
    for token in ["rg_agt_" + "A" * 49, "sk-not-a-rungate-token", ""]:
        client = openai.OpenAI(base_url=DATA_URL + "/v1", api_key=token or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.body["code"] == "invalid_credentials"
        assert "recovery" in raised.value.body["rungate"]
        assert token not in str(raised.value.body) or token == ""


def test_oversized_body_is_refused_with_413(oai):
    with pytest.raises(openai.APIStatusError) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * 300_000}])
    assert raised.value.status_code == 413
    assert raised.value.body["code"] == "request_too_large"


def test_provider_errors_keep_their_status_and_a_retry_is_recorded_as_such(oai):
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "limited"}],
                                    extra_headers={"x-mock-error": "429"})
    run_id = raised.value.response.headers["x-rungate-run-id"]
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "limited"}],
                                extra_headers={"x-rungate-run-id": run_id})
    steps = steps_of(run_id, 2)
    assert [s["status"] for s in steps] == ["upstream_error", "ok"]
    assert steps[0]["http_status"] == 429 and steps[0]["cost_micros"] == 0
    assert steps[1]["kind"] == "retry"


def test_provider_timeout_is_a_clean_504_and_a_step(oai):
    with pytest.raises(openai.APIStatusError) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "slow"}],
                                    extra_headers={"x-mock-error": "timeout"}, timeout=30)
    assert raised.value.status_code == 504
    assert raised.value.body["code"] == "provider_timeout"
    step = steps_of(raised.value.response.headers["x-rungate-run-id"], 1)[0]
    assert step["status"] == "timeout" and step["error_code"] == "provider_timeout"


def test_malformed_json_and_bad_run_ids_are_400(oai):
    status, _, body = api("POST", "/v1/chat/completions", body="not an object")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt-4o", messages=[], extra_headers={"x-rungate-run-id": "../../etc"})


def test_a_stream_cut_off_by_the_provider_is_charged_for_what_was_delivered(oai):
    pieces = []
    with pytest.raises(Exception):
        with oai.chat.completions.with_streaming_response.create(
                model="gpt-4o-mini", stream=True,
                messages=[{"role": "user", "content": "long answer [[words:40]] [[cut:6]] [[latency:30]]"}]) as response:
            run_id = response.headers["x-rungate-run-id"]
            for chunk in response.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
    assert pieces, "the chunks sent before the cut reached the client"
    step = steps_of(run_id, 1)[0]
    assert step["status"] == "incomplete" and step["error_code"] == "stream_interrupted"
    # No usage chunk arrived, so output is estimated from the text delivered: some, not the full 40.
    assert 0 < step["usage"]["output_tokens"] < 40
    assert step["cost_micros"] == micros(step["usage"]["input_tokens"], step["usage"]["output_tokens"], *GPT_4O_MINI)
    assert step["cost_micros"] > 0
