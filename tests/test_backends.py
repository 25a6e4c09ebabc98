"""LLM backends (OpenAI / Anthropic SDK chat models, factory, usage) against local HTTP stub servers.

The stubs speak just enough of the OpenAI chat-completions and Anthropic Messages wire formats; every
request they get is recorded, so tests check what the SDKs actually sent. No real endpoint is called.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field, SecretStr

from agent.backends import AnthropicSDKChat, BackendSpec, OpenAISDKChat, make_chat_model, parse_backend, usage_of
from agent.backends.anthropic_chat import to_anthropic_messages, to_anthropic_tool
from agent.backends.openai_chat import to_openai_messages
from store.errors import ConfigError

pytestmark = pytest.mark.timeout(60)

OPENAI_KEY = "sk-test-OPENAI-do-not-leak-1234567890"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-do-not-leak-0987654321"

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up a unit's top activations.",
        "parameters": {
            "type": "object",
            "properties": {"unit": {"type": "string", "description": "unit address"}},
            "required": ["unit"],
        },
    },
}


class Ablate(BaseModel):
    """Ablate a unit and report the loss change."""

    unit: str = Field(description="unit address")
    scale: float = 0.0


# ----------------------------------------------------------------------------------------------------------
# Stub server
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Stub:
    """A scripted HTTP server: each POST pops the next ``(status, json_body)`` and is recorded."""

    url: str
    script: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, status: int, body: Any) -> None:
        self.script.append((status, body))


def _serve(stub_path: str) -> Iterator[Stub]:
    stub = Stub(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"null")
            except json.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            with stub.lock:
                stub.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path != stub_path:
                    status, answer = 404, {"error": {"message": f"no route {self.path}"}}
                elif stub.script:
                    status, answer = stub.script.pop(0)
                else:
                    status, answer = 500, {"error": {"message": "stub has no scripted reply left"}}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Talk to 127.0.0.1 directly and make sure no real key or endpoint leaks in from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CUSTOM_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def openai_stub() -> Iterator[Stub]:
    yield from _serve("/v1/chat/completions")


@pytest.fixture
def anthropic_stub() -> Iterator[Stub]:
    yield from _serve("/v1/messages")


def _openai_model(stub: Stub, **kw: Any) -> OpenAISDKChat:
    return OpenAISDKChat(
        model="test-model", api_key=SecretStr(OPENAI_KEY), base_url=f"{stub.url}/v1", timeout=5, max_retries=0, **kw
    )


def _anthropic_model(stub: Stub, **kw: Any) -> AnthropicSDKChat:
    return AnthropicSDKChat(
        model="claude-test", api_key=SecretStr(ANTHROPIC_KEY), base_url=stub.url, timeout=5, max_retries=0, **kw
    )


def _completion(message: dict[str, Any], finish: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _anthropic_key_sent(headers: dict[str, str]) -> str | None:
    """The API key a request carried: ``x-api-key`` (SDK < 2) or ``Authorization: Bearer`` (SDK 2.x)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


def _anthropic_message(content: list[dict[str, Any]], stop: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


# ----------------------------------------------------------------------------------------------------------
# OpenAI
# ----------------------------------------------------------------------------------------------------------


def test_openai_tool_round_trip(openai_stub: Stub) -> None:
    openai_stub.reply(
        200,
        _completion(
            {"content": None, "tool_calls": [_openai_call("call_1", "lookup", '{"unit": "L3/N7"}')]},
            "tool_calls",
            {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        ),
    )
    openai_stub.reply(
        200,
        _completion(
            {"content": "Unit L3/N7 fires on dates."},
            "stop",
            {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36},
        ),
    )
    model = _openai_model(openai_stub, temperature=0.0, max_tokens=256)
    bound = model.bind_tools([LOOKUP_TOOL, Ablate], tool_choice="auto")
    history: list[BaseMessage] = [SystemMessage("You investigate neurons."), HumanMessage("What does L3/N7 do?")]

    first = bound.invoke(history)
    assert isinstance(first, AIMessage)
    assert first.tool_calls == [{"name": "lookup", "args": {"unit": "L3/N7"}, "id": "call_1", "type": "tool_call"}]
    assert first.invalid_tool_calls == []
    assert first.usage_metadata == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    assert usage_of(first) == (11, 7)
    assert first.response_metadata["finish_reason"] == "tool_calls"

    history += [first, ToolMessage("top: '1999', 'March'", tool_call_id="call_1")]
    second = bound.invoke(history)
    assert second.content == "Unit L3/N7 fires on dates."
    assert second.tool_calls == []
    assert usage_of(second) == (30, 6)

    assert [r.path for r in openai_stub.requests] == ["/v1/chat/completions"] * 2
    req1, req2 = (r.body for r in openai_stub.requests)
    assert openai_stub.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert req1["model"] == "test-model"
    assert req1["temperature"] == 0.0
    assert req1["max_tokens"] == 256  # a compatible server gets the classic parameter
    assert req1["tool_choice"] == "auto"
    assert req1["tools"][0] == LOOKUP_TOOL
    ablate = req1["tools"][1]
    assert ablate["type"] == "function" and ablate["function"]["name"] == "Ablate"
    assert set(ablate["function"]["parameters"]["properties"]) == {"unit", "scale"}
    assert req1["messages"] == [
        {"role": "system", "content": "You investigate neurons."},
        {"role": "user", "content": "What does L3/N7 do?"},
    ]
    assistant, tool = req2["messages"][2:]
    assert assistant["role"] == "assistant" and assistant["content"] is None
    [sent_call] = assistant["tool_calls"]
    assert sent_call["id"] == "call_1" and sent_call["type"] == "function"
    assert sent_call["function"]["name"] == "lookup"
    assert json.loads(sent_call["function"]["arguments"]) == {"unit": "L3/N7"}
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "top: '1999', 'March'"}


def test_openai_invalid_json_arguments_become_invalid_tool_calls(openai_stub: Stub) -> None:
    openai_stub.reply(
        200,
        _completion(
            {
                "content": "",
                "tool_calls": [
                    _openai_call("call_bad", "lookup", '{"unit": "L3/N7"'),
                    _openai_call("call_list", "lookup", "[1, 2]"),
                    _openai_call("call_ok", "lookup", ""),
                ],
            },
            "tool_calls",
        ),
    )
    openai_stub.reply(200, _completion({"content": "Retrying."}, "stop"))
    model = _openai_model(openai_stub).bind_tools([LOOKUP_TOOL])

    reply = model.invoke("go")
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == [{"name": "lookup", "args": {}, "id": "call_ok", "type": "tool_call"}]
    bad, not_object = reply.invalid_tool_calls
    assert bad["id"] == "call_bad" and bad["name"] == "lookup" and bad["args"] == '{"unit": "L3/N7"'
    assert bad["error"] is not None and "not valid JSON" in bad["error"]
    assert not_object["id"] == "call_list" and not_object["error"] is not None
    assert "JSON object" in not_object["error"]
    assert reply.usage_metadata is None and usage_of(reply) == (0, 0)

    # The graph answers each invalid call with an error; the raw arguments go back as they came.
    history: list[BaseMessage] = [
        HumanMessage("go"),
        reply,
        ToolMessage("error: arguments are not valid JSON", tool_call_id="call_bad", status="error"),
        ToolMessage("error: arguments must be an object", tool_call_id="call_list", status="error"),
        ToolMessage("ok", tool_call_id="call_ok"),
    ]
    assert model.invoke(history).content == "Retrying."
    sent = openai_stub.requests[1].body["messages"]
    calls = {c["id"]: c["function"]["arguments"] for c in sent[1]["tool_calls"]}
    assert calls == {"call_ok": "{}", "call_bad": '{"unit": "L3/N7"', "call_list": "[1, 2]"}
    assert [m["tool_call_id"] for m in sent[2:]] == ["call_bad", "call_list", "call_ok"]


def test_openai_plain_text_without_tools_sends_no_tools(openai_stub: Stub) -> None:
    openai_stub.reply(200, _completion({"content": "hello"}, "stop", {"prompt_tokens": 3, "completion_tokens": 1}))
    reply = _openai_model(openai_stub).invoke([HumanMessage("hi")], stop=["\n\n"])
    assert reply.content == "hello"
    assert usage_of(reply) == (3, 1)
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] == 4
    body = openai_stub.requests[0].body
    assert "tools" not in body and "tool_choice" not in body
    assert body["stop"] == ["\n\n"]


@pytest.mark.parametrize(
    ("status", "error_type", "fragment"),
    [
        (500, openai.InternalServerError, "upstream exploded"),
        (401, openai.AuthenticationError, "Incorrect API key provided"),
    ],
)
def test_openai_http_errors_are_clear_and_keyless(
    openai_stub: Stub, status: int, error_type: type[Exception], fragment: str
) -> None:
    openai_stub.reply(status, {"error": {"message": fragment, "type": "server_error", "code": None}})
    with pytest.raises(error_type) as info:
        _openai_model(openai_stub).invoke("hi")
    message = str(info.value)
    assert str(status) in message and fragment in message
    assert OPENAI_KEY not in message and OPENAI_KEY not in repr(info.value)
    assert len(openai_stub.requests) == 1  # max_retries=0


def test_openai_max_tokens_parameter_for_the_official_api() -> None:
    model = OpenAISDKChat(model="gpt-4o-mini", api_key=SecretStr(OPENAI_KEY), max_tokens=100)
    params = model._request([HumanMessage("hi")], None, {})
    assert params["max_completion_tokens"] == 100 and "max_tokens" not in params


def test_openai_message_conversion_keeps_list_content_and_named_tool_choice(openai_stub: Stub) -> None:
    messages = to_openai_messages(
        [HumanMessage(content=[{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}])]
    )
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}],
        }
    ]
    openai_stub.reply(200, _completion({"content": "ok"}, "stop"))
    _openai_model(openai_stub).bind_tools([LOOKUP_TOOL], tool_choice="lookup").invoke("hi")
    assert openai_stub.requests[0].body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}


# ----------------------------------------------------------------------------------------------------------
# Anthropic
# ----------------------------------------------------------------------------------------------------------


def test_anthropic_tool_round_trip(anthropic_stub: Stub) -> None:
    anthropic_stub.reply(
        200,
        _anthropic_message(
            [
                {"type": "text", "text": "Let me look at both."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"unit": "L3/N7"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Ablate", "input": {"unit": "L3/N7", "scale": 0.0}},
            ],
            "tool_use",
            {"input_tokens": 20, "output_tokens": 9},
        ),
    )
    anthropic_stub.reply(
        200,
        _anthropic_message(
            [{"type": "text", "text": "It tracks "}, {"type": "text", "text": "dates."}],
            "end_turn",
            {"input_tokens": 40, "output_tokens": 5, "cache_read_input_tokens": 100},
        ),
    )
    model = _anthropic_model(anthropic_stub, temperature=0.2)
    bound = model.bind_tools([LOOKUP_TOOL, Ablate], tool_choice="any")
    history: list[BaseMessage] = [
        SystemMessage("You investigate neurons."),
        SystemMessage("Be brief."),
        HumanMessage("What does L3/N7 do?"),
    ]

    first = bound.invoke(history)
    assert isinstance(first, AIMessage)
    assert first.content == "Let me look at both."
    assert [(c["name"], c["args"], c["id"]) for c in first.tool_calls] == [
        ("lookup", {"unit": "L3/N7"}, "toolu_1"),
        ("Ablate", {"unit": "L3/N7", "scale": 0.0}, "toolu_2"),
    ]
    assert first.usage_metadata == {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29}
    assert first.response_metadata["stop_reason"] == "tool_use"

    history += [
        first,
        ToolMessage("top: '1999'", tool_call_id="toolu_1"),
        ToolMessage("unit not found", tool_call_id="toolu_2", status="error"),
    ]
    second = bound.invoke(history)
    assert second.content == "It tracks dates."
    assert usage_of(second) == (140, 5)  # cached input counts as input
    assert second.usage_metadata is not None
    assert second.usage_metadata.get("input_token_details") == {"cache_read": 100, "cache_creation": 0}

    request = anthropic_stub.requests[0]
    assert request.path == "/v1/messages"
    assert _anthropic_key_sent(request.headers) == ANTHROPIC_KEY
    assert request.headers.get("anthropic-version")
    req1, req2 = (r.body for r in anthropic_stub.requests)
    assert req1["model"] == "claude-test" and req1["max_tokens"] == 2048 and req1["temperature"] == 0.2
    assert req1["system"] == "You investigate neurons.\n\nBe brief."
    assert req1["messages"] == [{"role": "user", "content": [{"type": "text", "text": "What does L3/N7 do?"}]}]
    assert req1["tool_choice"] == {"type": "any"}
    lookup, ablate = req1["tools"]
    assert lookup == {
        "name": "lookup",
        "description": "Look up a unit's top activations.",
        "input_schema": LOOKUP_TOOL["function"]["parameters"],  # type: ignore[index]
    }
    assert ablate["name"] == "Ablate" and set(ablate["input_schema"]["properties"]) == {"unit", "scale"}

    assert req2["system"] == req1["system"]
    assert [m["role"] for m in req2["messages"]] == ["user", "assistant", "user"]
    assert req2["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look at both."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"unit": "L3/N7"}},
        {"type": "tool_use", "id": "toolu_2", "name": "Ablate", "input": {"unit": "L3/N7", "scale": 0.0}},
    ]
    # Two tool results, one user message.
    assert req2["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "top: '1999'"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "unit not found", "is_error": True},
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [(500, anthropic.InternalServerError, "api_error"), (401, anthropic.AuthenticationError, "authentication_error")],
)
def test_anthropic_http_errors_are_clear_and_keyless(
    anthropic_stub: Stub, status: int, error_type: type[Exception], kind: str
) -> None:
    anthropic_stub.reply(status, {"type": "error", "error": {"type": kind, "message": f"stub says {kind}"}})
    with pytest.raises(error_type) as info:
        _anthropic_model(anthropic_stub).invoke("hi")
    message = str(info.value)
    assert str(status) in message and f"stub says {kind}" in message
    assert ANTHROPIC_KEY not in message and ANTHROPIC_KEY not in repr(info.value)
    assert len(anthropic_stub.requests) == 1


def test_anthropic_conversion_merges_turns_and_puts_tool_results_first() -> None:
    call = AIMessage("", tool_calls=[{"name": "lookup", "args": {"unit": "a"}, "id": "t1", "type": "tool_call"}])
    system, turns = to_anthropic_messages(
        [HumanMessage("q"), call, ToolMessage("r", tool_call_id="t1"), HumanMessage("and now?")]
    )
    assert system is None
    assert turns == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"unit": "a"}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "r"},
                {"type": "text", "text": "and now?"},
            ],
        },
    ]
    native = {"name": "n", "description": "d", "input_schema": {"type": "object", "properties": {}}}
    assert to_anthropic_tool(native) is native


# ----------------------------------------------------------------------------------------------------------
# Factory, secrets, usage
# ----------------------------------------------------------------------------------------------------------


def test_parse_backend_forms() -> None:
    assert parse_backend("builtin") == BackendSpec(kind="builtin")
    assert parse_backend(" openai:gpt-4o-mini ") == BackendSpec(kind="openai", model="gpt-4o-mini")
    assert parse_backend("anthropic:claude-sonnet-4-5") == BackendSpec(kind="anthropic", model="claude-sonnet-4-5")
    assert parse_backend("openai:qwen2.5:7b") == BackendSpec(kind="openai", model="qwen2.5:7b")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("gemini:pro", "unknown backend 'gemini:pro': use 'builtin', 'openai:<model>' or 'anthropic:<model>'"),
        ("", "unknown backend"),
        ("builtin:x", "unknown backend"),
        ("openai:", "needs a model name: use 'openai:<model>'"),
        ("anthropic", "needs a model name: use 'anthropic:<model>'"),
    ],
)
def test_parse_backend_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_backend(spec)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_make_chat_model_reads_keys_from_the_environment_only() -> None:
    assert make_chat_model("builtin", env={}) is None

    with pytest.raises(ConfigError, match=r"^anthropic backend needs the ANTHROPIC_API_KEY environment variable$"):
        make_chat_model("anthropic:claude-x", env={})
    with pytest.raises(ConfigError, match="openai backend needs the OPENAI_API_KEY environment variable"):
        make_chat_model("openai:gpt-4o-mini", env={})

    oa = make_chat_model("openai:gpt-4o-mini", env={"OPENAI_API_KEY": OPENAI_KEY})
    assert isinstance(oa, OpenAISDKChat) and oa.model == "gpt-4o-mini" and oa.base_url is None
    assert oa.api_key is not None and oa.api_key.get_secret_value() == OPENAI_KEY

    local = make_chat_model("openai:qwen", env={"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert isinstance(local, OpenAISDKChat) and local.base_url == "http://127.0.0.1:8000/v1"
    assert local.api_key is not None and local.api_key.get_secret_value() == "not-needed"

    an = make_chat_model(
        "anthropic:claude-x", env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/"}
    )
    assert isinstance(an, AnthropicSDKChat) and an.model == "claude-x" and an.base_url == "http://127.0.0.1:9/"
    assert an.max_tokens == 2048

    for model, key in ((oa, OPENAI_KEY), (an, ANTHROPIC_KEY)):
        bound = model.bind_tools([LOOKUP_TOOL])
        for text in (repr(model), str(model), repr(model.model_dump()), repr(bound), str(model._identifying_params)):
            assert key not in text


def test_make_chat_model_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch, openai_stub: Stub) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_stub.url}/v1")
    model = make_chat_model("openai:local-model")
    assert isinstance(model, OpenAISDKChat)
    model.max_retries = 0
    openai_stub.reply(200, _completion({"content": "hi"}, "stop"))
    assert model.invoke("hi").content == "hi"
    assert openai_stub.requests[0].headers["authorization"] == "Bearer not-needed"
    assert openai_stub.requests[0].body["model"] == "local-model"


def test_missing_key_at_call_time_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicSDKChat(model="claude-x").invoke("hi")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAISDKChat(model="gpt-4o-mini").invoke("hi")


def test_usage_of() -> None:
    assert usage_of(AIMessage("x")) == (0, 0)
    assert usage_of(AIMessage("x", usage_metadata={"input_tokens": 4, "output_tokens": 2, "total_tokens": 6})) == (
        4,
        2,
    )
    legacy = AIMessage("x", response_metadata={"token_usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    assert usage_of(legacy) == (5, 3)


def test_a_whole_investigation_over_the_openai_wire_keeps_the_key_out_of_the_store(
    openai_stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real graph, driven through the openai SDK by a stub server: a tool call, then the answer."""
    from agent.runner import explain, show
    from store.settings import Settings

    secret = "sk-test-secret-4f9a"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_stub.url}/v1")
    suite = Path(__file__).resolve().parent / "data" / "sample.jsonl"
    subject = f"{suite}#str-lower"
    call_args = json.dumps({"subject": subject, "inputs": ["Hello", "ABC"]})
    openai_stub.reply(
        200,
        _completion(
            {"content": None, "tool_calls": [_openai_call("t1", "call_function", call_args)]},
            "tool_calls",
            {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        ),
    )
    final_args = json.dumps(
        {
            "label": "lower-cases text",
            "description": "Returns the input in lower case.",
            "code": "def f(x):\n    return x.lower()\n",
            "confidence": 0.9,
            "evidence": [1],
        }
    )
    openai_stub.reply(
        200,
        _completion(
            {"content": None, "tool_calls": [_openai_call("t2", "final_explanation", final_args)]},
            "tool_calls",
            {"prompt_tokens": 150, "completion_tokens": 30, "total_tokens": 180},
        ),
    )
    settings = Settings(home=tmp_path / "home")
    result = explain(subject, backend="openai:test-model", settings=settings)
    assert result.explanation is not None and result.explanation.label == "lower-cases text"
    assert result.tokens == 300 and result.experiments == 1
    record = show(result.investigation_id, settings)
    assert record["experiments"][0]["result_summary"]["result"]["outcomes"][0]["output"] == "hello"
    second = openai_stub.requests[1].body
    tool_reply = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_reply["tool_call_id"] == "t1" and '"output": "hello"' in tool_reply["content"]
    assert {t["function"]["name"] for t in second["tools"]} >= {"call_function", "final_explanation"}
    for stored in (tmp_path / "home").rglob("*"):
        if stored.is_file():
            assert secret.encode() not in stored.read_bytes(), f"the API key leaked into {stored}"
