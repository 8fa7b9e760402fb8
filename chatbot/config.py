"""One typed Settings object. Every field is read from a `CHATBOT_`-prefixed environment variable
(or a `.env` file); nothing happens at import time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGED_EMBEDDINGS = "packaged:all-minilm-l6-v2"
# The default answer model: on the unseen-document check it answers far more questions right than the 0.5B
# (bench/README.md), at about twice the wait. The 0.5B is one setting away, and the standard fine-tune base.
PACKAGED_CHAT = "packaged:qwen2.5-coder-1.5b-instruct"
PACKAGED_LIGHT_CHAT = "packaged:qwen2.5-coder-0.5b-instruct"
PACKAGED_SMALL_CHAT = "packaged:smollm2-135m-instruct"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATBOT_", env_file=".env", extra="ignore")

    # --- where state lives -------------------------------------------------------------------
    home: Path = Field(
        default=Path.home() / ".chatbot",
        description="Folder holding all state: vector store, database, converted models, uploads.",
    )
    kb_dir: Path = Field(
        default=Path("knowledge_base"),
        description="Sample knowledge base indexed by `chatbot serve` when the store is empty.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite at HOME/chatbot.db."
    )
    chroma_url: str | None = Field(
        default=None, description="http://host:port of a Chroma server; default is embedded Chroma in HOME."
    )
    collection: str = Field(default="support_kb", description="Chroma collection name.")

    # --- models ------------------------------------------------------------------------------
    embedding_model: str = Field(
        default=PACKAGED_EMBEDDINGS,
        description="sentence-transformers model: 'packaged:all-minilm-l6-v2', a hub id or a folder.",
    )
    chat_backend: Literal["auto", "llamacpp", "transformers", "openai"] = Field(
        default="auto",
        description="'auto': llama.cpp for GGUF models when llama-cpp-python is installed, else transformers; "
        "'llamacpp' / 'transformers' run the model in-process; 'openai' calls an OpenAI-compatible server.",
    )
    chat_model: str = Field(
        default=PACKAGED_CHAT,
        description="Chat model: 'packaged:<name>', a hub id, a local folder or .gguf file, or the "
        "server's model name with the openai backend.",
    )
    openai_base_url: str | None = Field(
        default=None, description="Base URL of the OpenAI-compatible server, e.g. http://localhost:8000/v1."
    )
    openai_api_key: SecretStr = Field(default=SecretStr("not-needed"), description="API key for that server.")
    max_new_tokens: int = Field(default=256, ge=1, description="Longest answer, in tokens.")
    temperature: float = Field(default=0.0, ge=0.0, description="Sampling temperature; 0 is greedy.")
    closed_book_repeat_penalty: float = Field(
        default=1.2, ge=1.0, le=2.0,
        description="Repetition penalty for answers without documents (the fine-tuned and base arms; llama.cpp "
        "and transformers, not sent to an OpenAI-compatible server): a small model answering from memory drifts "
        "into lists of near-repeats that an exact n-gram ban lets through (bench/README.md, issue 14). 1 = off.",
    )
    chat_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Weights dtype for the transformers backend; auto = float32 on CPUs without native bf16 "
        "(4x faster prompt reading than emulated bf16), bfloat16 where the CPU has it, float16 on GPU.",
    )
    torch_threads: int | None = Field(default=None, description="CPU threads for torch; default all cores.")
    pair_model: str = Field(
        default="",
        description="Model that writes the fine-tuning question/answer pairs from the chunks (chatbot/finetune/"
        "pairs.py); empty: the preset's (quick: the 0.5B packaged model, for speed), else the chat model. "
        "Written pairs are cached per chunk in HOME/finetune.",
    )

    # --- ingestion and retrieval -------------------------------------------------------------
    chunk_size: int = Field(default=900, ge=100, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(default=120, ge=0, description="Overlap between chunks of one section.")
    max_upload_mb: float = Field(default=20.0, gt=0, description="Files above this size are refused unread.")
    ingest_batch_chunks: int = Field(
        default=1024, ge=1, description="Folder ingestion embeds the chunks of several documents together, about "
        "this many per call."
    )
    top_k: int = Field(default=4, ge=1, description="Chunks retrieved for an answer.")
    context_chars: int = Field(
        default=600,
        ge=0,
        description="Characters of retrieved text put in the prompt: the sentences of the top_k chunks that "
        "bear most on the question (chatbot/rag/evidence.py). 0 puts the whole chunks in.",
    )
    candidates: int = Field(default=20, ge=1, description="Candidates each retriever returns before fusion.")
    keyword_weight: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Weight of the keyword (BM25) score in the fused score."
    )
    min_relevance: float = Field(
        default=0.30,
        ge=0.0,
        le=1.0,
        description="Refuse when the best chunk's cosine similarity to the question is below this.",
    )
    min_sentence_relevance: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="...unless one sentence or table row of the retrieved chunks is at least this similar (a long "
        "table's chunk scores low as a whole although one row answers).",
    )
    refuse: bool = Field(
        default=True,
        description="Decline and offer a human when retrieval finds nothing relevant or the model says the "
        "documents don't hold the answer. false always answers: for measuring what declining costs.",
    )
    model_declines: bool = Field(
        default=True,
        description="The answer rules let the model reply 'I don't know' (a hand-off). false: only the relevance "
        "gate (CHATBOT_MIN_RELEVANCE) and the answer checks decline; the model always answers from the documents.",
    )
    decline_confidence: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The model may decline only when it gives its decline's first token at least this probability "
        "(chatbot/llm/decline_guard.py); below it, it answers from the documents. 1 never lets the model decline. "
        "Applies to the in-process backends.",
    )
    second_look: bool = Field(
        default=True,
        description="When the model declines from the excerpts, ask once more with the whole retrieved chunks "
        "before handing off (the answer may be in a part the excerpts left out).",
    )
    answer_style: Literal["document", "free"] = Field(
        default="document",
        description="How the RAG arm's answer is shown: 'document' replaces each sentence the model wrote by the "
        "document sentence (or table row) that states it, whole, so its conditions and product name come with it, "
        "and drops a sentence no document sentence states (chatbot/rag/verify.py); 'free' shows the model's own "
        "words (the hybrid arm always does: its model is trained to write them).",
    )
    verify_answers: bool = Field(
        default=True,
        description="Check an answer before it is shown (chatbot/rag/verify.py): a sentence whose cited document is "
        "about another product, code or company than the customer named, or that the answer model does not confirm "
        "its document states, is dropped; an answer left empty becomes the hand-off. The customer sees a status "
        "line meanwhile, and the answer appears whole once checked.",
    )
    verify_with_model: bool = Field(
        default=False,
        description="Part of the check: ask the answer model, as the next turn of the same conversation (its KV "
        "cache holds the prompt), whether the cited document states each sentence. Off by default: the packaged "
        "1.5B model says yes to its own sentences and scores turned-around conditions above right ones "
        "(bench/README.md); worth trying with a stronger model.",
    )
    history_turns: int = Field(default=4, ge=0, description="Earlier turns used to rewrite a follow-up.")
    questions_per_minute: int = Field(
        default=12, ge=1, description="Chat questions per minute per client address (kept by the server: a reload "
        "does not reset it)."
    )
    max_active_answers: int = Field(
        default=4, ge=1, description="Answers being written or waiting for the model at once, over all customers; "
        "beyond it a customer is told the assistant is busy."
    )
    trust_forwarded_for: bool = Field(
        default=False, description="Behind a reverse proxy that sets X-Forwarded-For: count limits per the "
        "address it gives (otherwise every customer shares the proxy's address)."
    )
    max_question_chars: int = Field(default=2000, ge=10, description="Longer chat messages are cut to this.")

    # --- the support team's loop (chatbot/handoffs.py, curated.py, insights.py, retention.py) ----
    handoff_webhook_url: str | None = Field(
        default=None, description="Helpdesk URL each hand-off is POSTed to as JSON (stored first, then sent; "
        "retried with back-off until it is accepted). Unset: hand-offs wait in the admin Hand-offs queue only.",
    )
    handoff_webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret: each POST carries X-Chatbot-Signature: sha256=<HMAC-SHA256 of "
        "the body with this key, hex>, so the helpdesk can tell the request came from this bot.",
    )
    handoff_retry_s: float = Field(
        default=30.0, gt=0, description="Wait before the first retry of a failed delivery; doubled after each "
        "failure, up to an hour.",
    )
    handoff_max_attempts: int = Field(
        default=12, ge=1, description="Delivery attempts before a hand-off is marked failed (the queue page "
        "can send it again).",
    )
    curated_match: float = Field(
        default=0.75, ge=0.0, le=1.0, description="A question at least this similar (cosine of the question "
        "embeddings) to a curated question gets the curated answer, cited, without the model (or the hand-off, "
        "for a topic set to always hand off).",
    )
    gap_similarity: float = Field(
        default=0.55, ge=0.0, le=1.0, description="Insights: declined and rated-down questions at least this similar "
        "(cosine of the question embeddings) to a topic's central question are grouped into that topic (gap).",
    )
    retain_days: int | None = Field(
        default=None, ge=1, description="Conversations (with their hand-offs and contacts) older than this many "
        "days are deleted at start and daily. Unset: kept until an admin deletes them.",
    )

    # --- people ------------------------------------------------------------------------------
    support_contact: str = Field(
        default="support@brightline.example or +1 800 555 0199 (Mon-Fri 8am-8pm ET)",
        description="Where the bot sends customers when it hands off to a human.",
    )
    admin_password: SecretStr | None = Field(
        default=None, description="Password for the admin pages, the admin commands and the API's admin scope. "
        "Unset: the first start generates one into HOME/admin-password (owner-only) and prints it once "
        "(chatbot/admin.py); CHATBOT_ADMIN_OPEN opens admin to everyone instead.",
    )
    admin_open: bool = Field(
        default=False, description="Open the admin pages, admin commands and the API's admin routes to anyone "
        "who reaches them, with no password (development and tests only). Off: admin needs the password.",
    )

    # --- the HTTP API (chatbot/api/) ---------------------------------------------------------
    api_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Web origins (scheme://host[:port]) whose pages may call the API from "
        "a browser (CORS), e.g. the sites embedding the widget; JSON list or comma-separated. Empty: none.",
    )
    api_key_rate_per_minute: int = Field(
        default=30, ge=1, description="Requests per minute a new API key may make (its own limit, set per key "
        "at creation; the per-client limit CHATBOT_QUESTIONS_PER_MINUTE applies as well).",
    )
    api_max_body_kb: int = Field(
        default=64, ge=1, description="Largest API request body, in KiB, except document uploads (which are "
        "limited by CHATBOT_MAX_UPLOAD_MB); larger requests get 413.",
    )
    api_max_messages: int = Field(
        default=50, ge=1, description="Most messages one chat completion request may carry (the history).",
    )

    @field_validator("admin_password")
    @classmethod
    def _password_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("set but empty: set a password, or unset the variable to "
                             "leave the admin pages open (development only)")
        return value

    @field_validator("api_allowed_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: object) -> object:
        """Accept "https://a.example, https://b.example" as well as a JSON list."""
        if isinstance(value, str):
            items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
            return [str(o).strip().rstrip("/") for o in items if str(o).strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        """The database in use: CHATBOT_DATABASE_URL when set, else SQLite at HOME/chatbot.db."""
        return self.database_url or f"sqlite:///{self.home / 'chatbot.db'}"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
