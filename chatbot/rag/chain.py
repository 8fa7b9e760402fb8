"""The LangChain chains. Every arm is two LCEL steps:

    prepare:  {"question", "history"} -> + "standalone" (follow-up rewritten) -> + "sources" (retrieved)
              -> + "texts" (their chunks) -> + "relevant" (the relevance gate's verdict)
              -> + "excerpts" (the sentences of each chunk that bear on it; none when not relevant)
    generate: {"standalone", "sources", "excerpts"} -> prompt messages -> chat model -> streamed text

RAG and hybrid use both steps (with the base or the fine-tuned model); base and fine-tuned arms skip
retrieval and answer closed-book. The service runs `prepare` with its relevance gate, declines when the
gate says no, else streams `generate`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from chatbot.llm.factory import with_options
from chatbot.rag import prompts
from chatbot.rag.evidence import ExcerptSelector
from chatbot.rag.retrieval import HybridRetriever
from chatbot.types import Source, Turn


def as_langchain(messages: list[prompts.Message]):
    """Our {"role", "content"} messages as the (role, content) pairs LangChain chat models take."""
    return [(m["role"], m["content"]) for m in messages]


def make_condense_step(model: BaseChatModel, history_turns: int) -> Runnable:
    """{"question", "history"} -> stand-alone question (the question itself when there is no history)."""
    rewrite = (
        RunnableLambda(lambda x: as_langchain(prompts.condense_messages(x["history"], x["question"])))
        | with_options(model, max_new_tokens=48)
        | StrOutputParser()
    )

    def condense(x: dict) -> str:
        history: Sequence[Turn] = list(x.get("history") or [])[-history_turns:] if history_turns else []
        if not history or not prompts.is_follow_up(x["question"]):
            return x["question"]
        return prompts.clean_standalone(rewrite.invoke({"question": x["question"], "history": history}),
                                        x["question"], history)

    return RunnableLambda(condense)


def make_prepare_step(retriever: HybridRetriever | None, condense: Runnable | None,
                      selector: ExcerptSelector | None = None, budget: int = 0,
                      relevant: Callable[[dict], bool] | None = None) -> Runnable:
    """Adds "standalone", "sources", their full chunk "texts", "relevant" (the gate's verdict on them:
    `relevant(x)`, True without a gate) and the "excerpts" the prompt will hold (whole chunks when
    `budget` is 0 or there is no selector; all empty without a retriever or when not relevant, so a
    question about to be declined costs no excerpt selection)."""
    chain: Runnable = RunnablePassthrough.assign(
        standalone=condense if condense is not None else RunnableLambda(lambda x: x["question"])
    )
    if retriever is None:
        return chain | RunnablePassthrough.assign(sources=lambda x: [], texts=lambda x: [], relevant=lambda x: True,
                                                  excerpts=lambda x: [])

    def texts(x: dict) -> list[str]:
        return [retriever.chunk_text(s.chunk_id) or s.snippet for s in x["sources"]]

    def excerpts(x: dict) -> list[str]:
        if not x["relevant"]:
            return ["" for _ in x["texts"]]
        if selector is None:
            return list(x["texts"])
        return selector.select(x["standalone"], x["texts"], budget)

    return (chain | RunnablePassthrough.assign(sources=lambda x: retriever.retrieve(x["standalone"]))
            | RunnablePassthrough.assign(texts=texts)
            | RunnablePassthrough.assign(relevant=relevant or (lambda x: True))
            | RunnablePassthrough.assign(excerpts=excerpts))


def in_prompt(prepared: dict) -> tuple[list[Source], list[str], list[str]]:
    """(sources, full texts, excerpts) of the chunks that made it into the prompt, in prompt order:
    citation [n] is the n-th of them."""
    kept = [(s, t, e) for s, t, e in zip(prepared["sources"], prepared["texts"], prepared["excerpts"], strict=True)
            if e]
    return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]


def make_generate_step(model: BaseChatModel, with_context: bool, may_decline: bool = True,
                       decline_confidence: float | None = None, closed_book_penalty: float | None = None
                       ) -> Runnable:
    """{"standalone", "sources", "texts", "excerpts"} -> streamed answer (AIMessageChunks). When the model
    may decline, `decline_confidence` is how sure it must be to (chatbot/llm/decline_guard.py). An answer
    without documents is decoded with the repetition penalty `closed_book_penalty`; one that reads documents
    is not (it quotes their words, menu paths and all)."""

    def build(x: dict):
        if not with_context:
            return as_langchain(prompts.closed_book_messages(x["standalone"]))
        sources, _, excerpts = in_prompt(x)
        # a follow-up whose rewrite failed is asked as written, after the turn it leans on
        earlier = prompts.conversation_turns(x.get("question", ""), x["standalone"], x.get("history") or [])
        question = x["question"] if earlier else x["standalone"]
        return as_langchain(prompts.rag_messages(question, sources, excerpts, may_decline, earlier))

    threshold = decline_confidence if with_context and may_decline else None
    penalty = None if with_context else closed_book_penalty
    return RunnableLambda(build) | with_options(model, decline_threshold=threshold, repeat_penalty=penalty)
