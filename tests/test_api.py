"""The HTTP API against a running server (uvicorn on loopback, tests/api_server.py) on the fake models: the
real `openai` client (blocking, streaming, a two-turn conversation, a hand-off), LangChain's ChatOpenAI, raw
server-sent events; keys, scopes, limits, size, CORS, each refusal an OpenAI-style JSON body; documents over
the admin scope; secure by default (no open admin page or admin API on a fresh start)."""

from __future__ import annotations

import json
import os
import stat

import httpx
import pytest

from chatbot import admin, apikeys
from chatbot.cli import main
from chatbot.service import make_service
from tests.api_server import api_server
from tests.conftest import make_settings
from tests.documents import LANTERN, LANTERN_PRICED

ALLOWED = "http://shop.example:8080"
QUESTION = "SL-300 lantern battery mAh"


@pytest.fixture
def api(tmp_path, echo_model, hashed_embeddings):
    """A service on the fake models holding the lantern page, its API served, and a chat and an admin key."""
    settings = make_settings(tmp_path / "home", api_allowed_origins=[ALLOWED], questions_per_minute=1000,
                             api_max_body_kb=8)
    service = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    assert service.ingest_bytes("lantern.md", LANTERN_PRICED).status == "indexed"
    chat, _ = service.create_api_key("widget", "chat", 1000)
    admin_key, _ = service.create_api_key("ops", "admin", 1000)
    with api_server(service) as url:
        yield {"url": url, "service": service, "chat": chat, "admin": admin_key}


def openai_client(api):
    from openai import OpenAI

    return OpenAI(base_url=api["url"] + "/v1", api_key=api["chat"], max_retries=0)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """An OpenAI-style JSON error body, never HTML or a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in response.text
    if code:
        assert error["code"] == code
    return error


def test_openai_client_blocking_and_streaming_with_citations(api):
    client = openai_client(api)
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    message = reply.choices[0].message
    assert message.content and reply.model == "rag" and reply.object == "chat.completion"
    assert message.handoff is False
    citation = message.citations[0]
    assert citation["number"] == 1 and citation["document"] == "lantern" and citation["title"] == "Solar Lantern SL-300"
    assert citation["link"] == api["url"] + "/v1/articles/lantern#battery" and "5200" in citation["snippet"]
    assert 0 < citation["relevance"] <= 1 and citation["section"] == "Battery"
    recorded = api["service"].conversation(reply.conversation_id)  # recorded like the app's turns
    assert [(m.role, m.mode) for m in recorded] == [("user", None), ("assistant", "rag")]
    assert recorded[1].sources[0]["doc_id"] == "lantern"

    chunks = list(client.chat.completions.create(model="rag", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == message.content  # the deltas add up to the blocking answer
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.handoff is False
    assert [c["document"] for c in last.citations] == [c["document"] for c in message.citations]

    page = httpx.get(citation["link"])  # the read-only article view the citation links to
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="battery"' in page.text and "5200 mAh" in page.text and "<script" not in page.text


def test_a_two_turn_conversation_and_a_hand_off(api, echo_model):
    client = openai_client(api)
    first = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    follow_up = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": QUESTION},
                 {"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": "and how much does it cost?"}]
    second = client.chat.completions.create(model="rag", messages=follow_up,
                                            extra_body={"conversation_id": first.conversation_id})
    assert second.conversation_id == first.conversation_id
    # the follow-up was read against the earlier turn (the rewrite prompt quotes it) ...
    assert any(QUESTION in str(m.content) and "how much does it cost" in str(m.content)
               for call in echo_model.calls for m in call)
    # ... and both turns are in one recorded conversation
    assert [m.role for m in api["service"].conversation(first.conversation_id)] == ["user", "assistant"] * 2

    handoff = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "Qzv wibble frob?"}])
    assert handoff.choices[0].message.handoff is True
    assert "support team" in handoff.choices[0].message.content
    assert handoff.choices[0].message.contact == api["service"].settings.support_contact  # how to reach a person
    streamed = list(client.chat.completions.create(model="rag", stream=True,
                                                   messages=[{"role": "user", "content": "Qzv wibble frob?"}]))
    assert streamed[-1].handoff is True


def test_langchain_chat_openai_and_raw_server_sent_events(api):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=api["url"] + "/v1", api_key=api["chat"], model="rag", max_retries=0)
    assert "5200" in llm.invoke(QUESTION).content or llm.invoke(QUESTION).content
    assert "".join(str(c.content) for c in llm.stream(QUESTION))

    with httpx.stream("POST", api["url"] + "/v1/chat/completions", headers={"Authorization": f"Bearer {api['chat']}"},
                      json={"messages": [{"role": "user", "content": QUESTION}], "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    data = [line.removeprefix("data: ") for line in events if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[0]["model"] == "rag"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)


def test_models_health_readiness_and_the_openapi_schema(api):
    headers = {"Authorization": f"Bearer {api['chat']}"}
    models = httpx.get(api["url"] + "/v1/models", headers=headers).json()
    assert [m["id"] for m in models["data"]] == ["rag", "base"]  # no fine-tuned model is active
    assert httpx.get(api["url"] + "/health").json() == {"status": "ok"}
    assert httpx.get(api["url"] + "/ready").json() == {"status": "ready", "documents": 1}
    schema = httpx.get(api["url"] + "/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/models", "/v1/documents"} <= set(schema["paths"])
    assert "citations" in schema["components"]["schemas"]["AssistantMessage"]["properties"]
    assert_error(httpx.post(api["url"] + "/v1/chat/completions", headers=headers,
                            json={"model": "finetuned", "messages": [{"role": "user", "content": "hi"}]}),
                 404, "model_not_found")
    assert_error(httpx.get(api["url"] + "/v1/nothing-here"), 404)


def test_keys_scopes_and_malformed_or_oversized_requests_get_json_errors(api):
    url = api["url"] + "/v1/chat/completions"
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    assert_error(httpx.post(url, json=body), 401, "missing_api_key")
    assert_error(httpx.post(url, json=body, headers={"Authorization": "Bearer cbk_wrong"}), 401, "invalid_api_key")
    chat = {"Authorization": f"Bearer {api['chat']}"}
    assert_error(httpx.get(api["url"] + "/v1/documents", headers=chat), 403, "insufficient_scope")
    assert_error(httpx.post(url, content=b'{"messages": [', headers={**chat, "Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(httpx.post(url, json={"messages": []}, headers=chat), 400)
    assert_error(httpx.post(url, json={"messages": [{"role": "assistant", "content": "hi"}]}, headers=chat), 400)
    huge = {"messages": [{"role": "user", "content": "x" * 9000}]}  # the body limit is 8 KiB here
    assert_error(httpx.post(url, json=huge, headers=chat), 413, "request_too_large")

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    assert_error(httpx.post(url, content=chunked(), headers={**chat, "Content-Type": "application/json"}), 413)
    key = api["service"].api_keys()[0]
    api["service"].revoke_api_key(key.id)
    assert_error(httpx.post(url, json=body, headers=chat), 401, "invalid_api_key")


def test_rate_limits_and_busy_answer_429_and_503_with_retry_after(tmp_path, echo_model, hashed_embeddings):
    settings = make_settings(tmp_path / "home", questions_per_minute=2)
    service = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    service.ingest_bytes("lantern.md", LANTERN)
    slow_key, _ = service.create_api_key("slow", "chat", 2)
    key, _ = service.create_api_key("fast", "chat", 100)
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    with api_server(service) as url:
        post = lambda k: httpx.post(url + "/v1/chat/completions", json=body,  # noqa: E731
                                    headers={"Authorization": f"Bearer {k}"})
        assert [post(slow_key).status_code for _ in range(2)] == [200, 200]
        error = assert_error(post(slow_key), 429, "rate_limit_exceeded")  # the key's own limit
        assert "2 requests per minute" in error["message"]
        assert int(post(slow_key).headers["Retry-After"]) >= 1
        refused = post(key)  # the address has asked its 2 questions this minute: the app's per-client limit
        assert_error(refused, 429, "rate_limit_exceeded") and int(refused.headers["Retry-After"]) >= 1

    # the cap on answers in progress: another customer's answer holds the one place
    from starlette.testclient import TestClient

    from chatbot.api import create_app

    app = create_app(make_service(make_settings(tmp_path / "home", max_active_answers=1), chat_model=echo_model,
                                  embeddings=hashed_embeddings))
    with app.state.limits.answering() as admitted:
        assert admitted
        busy = TestClient(app).post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
    assert_error(busy, 503, "busy")
    assert busy.headers["Retry-After"] == "5"


def test_cors_preflight_allowed_and_refused(api):
    url = api["url"] + "/v1/chat/completions"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = httpx.options(url, headers={**preflight, "Origin": ALLOWED})
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    refused = httpx.options(url, headers={**preflight, "Origin": "http://evil.example"})
    assert_error(refused, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in refused.headers
    headers = {"Authorization": f"Bearer {api['chat']}"}
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    answer = httpx.post(url, json=body, headers={**headers, "Origin": ALLOWED})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ALLOWED
    assert_error(httpx.post(url, json=body, headers={**headers, "Origin": "http://evil.example"}), 403)
    widget = httpx.get(api["url"] + "/widget.js", headers={"Origin": "http://evil.example"})  # a script tag: any page
    assert widget.status_code == 200 and "attachShadow" in widget.text and len(widget.content) < 30_000


def test_documents_over_the_admin_scope_and_feedback(api):
    headers = {"Authorization": f"Bearer {api['admin']}"}
    url = api["url"]
    hose = b"# Garden Hose\n\n## Warranty\n\nThe GH-77 garden hose carries a 9-year warranty.\n"
    added = httpx.post(url + "/v1/documents", params={"name": "hose.md", "url": "https://help.example/hose"},
                       content=hose, headers=headers)
    assert added.status_code == 200 and added.json()["status"] == "indexed", added.text
    refused = httpx.post(url + "/v1/documents", params={"name": "empty.md"}, content=b"  ", headers=headers)
    assert refused.status_code == 422 and refused.json()["status"] == "refused"
    assert {d["doc_id"] for d in httpx.get(url + "/v1/documents", headers=headers).json()} == {"lantern", "hose"}
    client = openai_client(api)
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "GH-77 hose warranty"}])
    assert reply.choices[0].message.citations[0]["link"] == "https://help.example/hose"  # the public URL
    rated = httpx.post(url + "/v1/feedback", json={"id": reply.id, "rating": -1},
                       headers={"Authorization": f"Bearer {api['chat']}"})
    assert rated.status_code == 200 and rated.json()["feedback_id"]
    assert httpx.delete(url + "/v1/documents/hose", headers=headers).json() == {"doc_id": "hose", "deleted": True}
    assert_error(httpx.delete(url + "/v1/documents/hose", headers=headers), 404)
    assert_error(httpx.get(url + "/v1/articles/hose"), 404)


def test_a_fresh_start_has_no_open_admin(tmp_path, echo_model, hashed_embeddings, monkeypatch, capsys):
    settings = make_settings(tmp_path / "home")
    assert settings.admin_password is None and not settings.admin_open
    message = admin.start_message(settings)  # what `chatbot serve` / `chatbot api` print at the first start
    path = admin.password_path(settings)
    secret = path.read_text().strip()
    assert secret in message and str(path) in message and len(secret) >= 20
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = admin.start_message(settings)  # later starts say where it is, not what it is
    assert secret not in again and str(path) in again and path.read_text().strip() == secret
    assert admin.admin_secret(settings).get_secret_value() == secret

    service = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    with api_server(service) as url:  # no key, no admin: the admin API is closed
        assert_error(httpx.get(url + "/v1/documents"), 401)
    opened = make_settings(tmp_path / "home", admin_open=True)  # opening admin takes an explicit setting
    assert admin.admin_secret(opened) is None
    with api_server(make_service(opened, chat_model=echo_model, embeddings=hashed_embeddings)) as url:
        assert httpx.get(url + "/v1/documents").status_code == 200

    # the CLI: whoever can read HOME/admin-password owns the installation; an explicit password must be presented
    monkeypatch.setenv("CHATBOT_HOME", str(settings.home))
    for name in ("CHATBOT_ADMIN_PASSWORD", "CHATBOT_ADMIN_TOKEN", "CHATBOT_ADMIN_OPEN"):
        monkeypatch.delenv(name, raising=False)
    capsys.readouterr()
    assert main(["keys", "create", "help centre", "--scope", "chat", "--rate", "20"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith(apikeys.KEY_START) and service.verify_api_key(key).rate_per_minute == 20
    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["scope"], k["prefix"]) for k in listed] == [("help centre", "chat", key[:12])]
    assert key not in json.dumps(listed) and apikeys.hash_key(key) not in json.dumps(listed)  # never shown again
    assert main(["keys", "revoke", key[:12]]) == 0 and service.verify_api_key(key) is None
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    assert main(["keys", "list"]) == 2 and "admin action" in capsys.readouterr().err


def test_api_settings_parse_from_the_environment(monkeypatch):
    from chatbot.config import Settings

    monkeypatch.setenv("CHATBOT_API_ALLOWED_ORIGINS", "https://shop.example, https://help.example/")
    assert Settings().api_allowed_origins == ["https://shop.example", "https://help.example"]
    monkeypatch.setenv("CHATBOT_API_ALLOWED_ORIGINS", '["https://a.example"]')
    assert Settings().api_allowed_origins == ["https://a.example"]


def test_key_storage_keeps_only_a_hash(settings, hashed_embeddings):
    service = make_service(settings, embeddings=hashed_embeddings)
    key, record = service.create_api_key("site", "chat", 10)
    from sqlalchemy import select

    from chatbot import db

    with service.engine.connect() as conn:
        row = conn.execute(select(db.api_keys)).one()
    assert row.key_hash == apikeys.hash_key(key) and key not in str(tuple(row))
    assert record.prefix == key[:12] and service.verify_api_key(key).id == record.id
    assert service.verify_api_key(key + "x") is None and service.verify_api_key("sk-other") is None
    with pytest.raises(ValueError):
        service.create_api_key("site", "root")


@pytest.mark.slow  # the app warms the real models
def test_a_fresh_app_asks_for_the_generated_admin_password(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT, app_environment

    monkeypatch.delenv("CHATBOT_ADMIN_PASSWORD", raising=False)
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN}, admin_open=False) as settings:
        at = AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()
        at.switch_page("views/documents.py").run()
        assert not at.get("file_uploader") and at.text_input[0].label == "Admin password"
        at.text_input[0].input(admin.password_path(settings).read_text().strip())
        at.button[0].click().run()
        assert at.get("file_uploader") and not at.exception

        at.switch_page("views/api_keys.py").run()  # signed in: the keys page creates, lists and revokes
        at.text_input[0].input("help-centre widget")
        at.radio[0].set_value("chat")
        at.number_input[0].set_value(20)
        at.button[0].click().run()
        key = at.code[0].value
        assert key.startswith(apikeys.KEY_START) and f'data-key="{key}"' in at.code[1].value
        from chatbot.db import open_database

        engine = open_database(settings.effective_database_url)
        assert apikeys.verify(engine, key).rate_per_minute == 20
        at.button(key=f"revoke-{apikeys.list_keys(engine)[0].id}").click().run()
        assert apikeys.verify(engine, key) is None and not at.exception
        engine.dispose()
