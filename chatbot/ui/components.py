"""Rendering pieces shared by pages. Model text is shown as text: markdown and HTML are escaped."""

from __future__ import annotations

import re

import streamlit as st

from chatbot.jobs import JobRecord
from chatbot.rag.citations import CITATION
from chatbot.types import ARM_LABELS, Answer, Source

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$-])")


def plain(text: str) -> str:
    """Escape markdown so that text from documents or models can't inject links, images or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def answer_markdown(text: str) -> str:
    r"""An answer for st.markdown: escaped, but citation markers [n] kept readable (in bold).

    >>> answer_markdown("Take *5* days [1, 2].")
    'Take \\*5\\* days **[1, 2]**.'
    """
    parts = CITATION.split(text)  # text, the numbers of a marker, text, ...
    return "".join(plain(part) if n % 2 == 0 else f"**[{part}]**" for n, part in enumerate(parts))


def render_sources(sources: tuple[Source, ...] | list[Source]) -> None:
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})", expanded=False):
        for number, source in enumerate(sources, start=1):
            where = source.title + (f" › {source.section}" if source.section else "")
            page = f", page {source.page}" if source.page else ""
            path = source.source.replace("`", "'")  # shown in a code span, where escapes would show
            st.markdown(f"**[{number}] {plain(where)}**  \n`{path}`{page} · relevance {source.score:.2f}")
            st.caption(plain(source.snippet))


def render_meta(answer: Answer) -> None:
    speed = f" · {answer.tokens_per_s:.1f} tok/s" if answer.tokens_per_s else ""
    grounded = "" if answer.groundedness is None else f" · {answer.groundedness:.0%} supported by the KB"
    st.caption(f"{answer.model} · {ARM_LABELS.get(answer.mode, answer.mode)} · first token {answer.ttft_s:.2f}s · "
               f"total {answer.latency_s:.2f}s{speed}{grounded}")


def render_handoff(contact: str) -> None:
    st.info(f"Want a person to help? Contact our support team: {plain(contact)}", icon=":material/support_agent:")


def render_job_history(records: list[JobRecord]) -> None:
    """Earlier runs of one kind of job: when, how they ended, what they made or why they failed."""
    if not records:
        return
    with st.expander(f"Past runs ({len(records)})"):
        st.dataframe([{"started": r.started_at.strftime("%Y-%m-%d %H:%M"),
                       "minutes": round((r.finished_at - r.started_at).total_seconds() / 60, 1)
                       if r.finished_at else None,
                       "status": r.status, "result": r.result or r.error} for r in records],
                     hide_index=True, width="stretch")
