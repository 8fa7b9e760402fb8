"""One sentence splitter, for the answer checks (chatbot/rag/grounding.py) and excerpt selection
(chatbot/rag/evidence.py): a sentence ends at . ! or ? followed by white space and a capital, a digit,
a quote or a bracket."""

from __future__ import annotations

import re

STARTS = "A-Z0-9\"'("


def split_sentences(text: str, also_starting: str = "") -> list[str]:
    """`text` cut after each sentence end; `also_starting`: more characters a sentence may start with
    (document lines may start one with markdown emphasis, `*`).

    >>> split_sentences("Refunds take 5 days. (Card) or PayPal! *New* too.")
    ['Refunds take 5 days.', '(Card) or PayPal! *New* too.']
    >>> split_sentences("Refunds take 5 days. *New* too.", also_starting="*")
    ['Refunds take 5 days.', '*New* too.']
    """
    return re.split(rf"(?<=[.!?])\s+(?=[{STARTS}{re.escape(also_starting)}])", text)
