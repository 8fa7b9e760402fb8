"""The LangChain chains. Every arm is two LCEL steps:

    prepare:  {"question", "history"} -> + "standalone" (follow-up rewritten) -> + "sources" (retrieved)
    generate: {"question", "sources", "texts"} -> prompt messages -> chat model -> streamed text

RAG and hybrid use both steps (with the base or the fine-tuned model); base and fine-tuned arms skip
retrieval and answer closed-book. The service runs `prepare`, decides on refusal from the retrieval
scores, then streams `generate`."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from chatbot import prompts
from chatbot.retrieval import HybridRetriever
from chatbot.types import Source, Turn


def _as_langchain(messages: list[prompts.Message]):
    return [(m["role"], m["content"]) for m in messages]


def make_condense_step(model: BaseChatModel, history_turns: int) -> Runnable:
    """{"question", "history"} -> stand-alone question (the question itself when there is no history)."""
    rewrite = (
        RunnableLambda(lambda x: _as_langchain(prompts.condense_messages(x["history"], x["question"])))
        | model.bind(max_new_tokens=48)
        | StrOutputParser()
    )

    def condense(x: dict) -> str:
        history: Sequence[Turn] = list(x.get("history") or [])[-history_turns:] if history_turns else []
        if not history or not prompts.is_follow_up(x["question"]):
            return x["question"]
        return prompts.clean_standalone(rewrite.invoke({"question": x["question"], "history": history}),
                                        x["question"], history)

    return RunnableLambda(condense)


def make_prepare_step(retriever: HybridRetriever | None, condense: Runnable | None) -> Runnable:
    """Adds "standalone", "sources" and their full chunk "texts" (both empty without a retriever)."""
    chain: Runnable = RunnablePassthrough.assign(
        standalone=condense if condense is not None else RunnableLambda(lambda x: x["question"])
    )
    if retriever is None:
        return chain | RunnablePassthrough.assign(sources=lambda x: [], texts=lambda x: [])

    def texts(x: dict) -> list[str]:
        return [retriever.chunk_text(s.chunk_id) or s.snippet for s in x["sources"]]

    return (chain | RunnablePassthrough.assign(sources=lambda x: retriever.retrieve(x["standalone"]))
            | RunnablePassthrough.assign(texts=texts))


def make_generate_step(model: BaseChatModel, with_context: bool) -> Runnable:
    """{"standalone", "sources", "texts"} -> streamed answer (AIMessageChunks)."""

    def build(x: dict):
        if not with_context:
            return _as_langchain(prompts.closed_book_messages(x["standalone"]))
        sources: list[Source] = x["sources"]
        return _as_langchain(prompts.rag_messages(x["standalone"], sources, x["texts"]))

    return RunnableLambda(build) | model
