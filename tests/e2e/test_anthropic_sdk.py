"""The official Anthropic SDK against the data plane."""
import anthropic
import pytest

from conftest import DATA_URL, micros, steps_of

SONNET = (3_000_000, 15_000_000)


def test_message_records_a_priced_step(claude):
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi [[words:5]]"}])
    message = raw.parse()
    assert message.content[0].text == "This is a mock answer"
    step = steps_of(raw.headers["x-rungate-run-id"], 1)[0]
    assert step["provider"] == "anthropic" and step["usage"]["output_tokens"] == 5
    assert step["usage"]["input_tokens"] == message.usage.input_tokens
    assert step["cost_micros"] == micros(message.usage.input_tokens, 5, *SONNET)


def test_streaming_text_and_final_usage(claude):
    with claude.messages.stream(model="claude-sonnet-4-6", max_tokens=50,
                                messages=[{"role": "user", "content": "stream [[words:4]]"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        run_id = stream.response.headers["x-rungate-run-id"]
    assert text == "This is a mock"
    assert final.usage.output_tokens == 4
    step = steps_of(run_id, 1)[0]
    assert step["usage"]["output_tokens"] == 4 and step["ttft_ms"] is not None


def test_tool_use(claude):
    message = claude.messages.create(model="claude-sonnet-4-6", max_tokens=50,
                                     messages=[{"role": "user", "content": '[[tool:delete_file {"path": "/tmp/x"}]]'}],
                                     tools=[{"name": "delete_file", "input_schema": {"type": "object"}}])
    assert message.stop_reason == "tool_use"
    assert message.content[0].name == "delete_file" and message.content[0].input == {"path": "/tmp/x"}


def test_bad_token_raises_the_sdk_authentication_error():
    client = anthropic.Anthropic(base_url=DATA_URL, api_key="rg_agt_" + "B" * 49, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert raised.value.body["error"]["type"] == "authentication_error"
    assert raised.value.body["rungate"]["code"] == "invalid_credentials"
