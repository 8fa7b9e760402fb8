"""Verify before showing: every sentence of an answer is checked against the document it cites, and a
sentence that fails is dropped (an answer left with nothing becomes the hand-off).

A small model reading retrieved documents makes two kinds of confident mistakes that a citation then
makes look trustworthy: it states the facts of one product, error code or company for another (the
number exists in some chunk, so a figure check passes), and it turns conditions around ("paid by the
customer" where the page says a defective item gets a prepaid label). Two checks, cheapest first:

1. **Entity check** (deterministic, no model): the things the customer named — model numbers and codes
   ("P780", "E-221") and names the documents write with a capital ("Drivo", "Utrecht") — must be named by
   the document a sentence cites. A code the knowledge base names nowhere means the product is not
   covered: the answer is not even generated (`uncovered`).
2. **Model check**: the answer model is asked, as the next turn of the same conversation, whether the
   document it cited states the sentence for what the customer asked about. llama.cpp keeps the whole
   answer prompt in its KV cache, so only the check's few tokens are read; an OpenAI-compatible server with
   prefix caching (vLLM, llama.cpp's server) does the same. Only a plain "yes" keeps the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser

from chatbot.llm.factory import with_options
from chatbot.rag import grounding, prompts
from chatbot.rag.citations import CITATION, cited_numbers, strip_citations
from chatbot.rag.evidence import units
from chatbot.rag.keyword import STOPWORDS, tokenize
from chatbot.rag.sentences import split_sentences

# A model number or code: letters and digits in one word ("P780", "E-221", "RT-AX58U"), not a quantity with
# its unit ("24h", "5kg", "10am", "2nd").
_IDENTIFIER = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*(?![\w-])")
_QUANTITY = re.compile(r"^\d+(?:[.,]\d+)?[a-z]{1,3}$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
# Words that are capitalised in documents without being names of what a customer asks about.
_NOT_NAMES = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december".split())

# An answer sentence is shown in a document's words only when one document sentence holds at least this share of
# its content words (and every figure it states).
MIN_SUPPORT = 0.5
# ...and, for an answer sentence that only restates the customer's words, at least this share on its own.
MIN_OWN_SUPPORT = 0.34
_LEAD = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+|[QA]:\s+)")  # a list mark or an FAQ's "A:" before a sentence
CHECK_QUESTION = (
    'Check one sentence of your answer: "{sentence}"\n'
    "Does {where} state exactly this, for what the customer asked about (the same product, model, plan, "
    "place or company, and the same conditions)? Reply with yes or no only."
)


def identifiers(text: str) -> set[str]:
    """Model numbers and codes in `text`, lower-cased.

    >>> sorted(identifiers("Is the P780 like the p-340? E-221 after 24h, 5kg, the 2nd time, 2.4.1"))
    ['e-221', 'p-340', 'p780']
    """
    return {m.group() for m in _IDENTIFIER.finditer(text.lower()) if not _QUANTITY.match(m.group())}


def names(texts: Sequence[str]) -> set[str]:
    """Words the texts always write with a capital where a sentence does not start, lower-cased: the names
    of products, plans, places and companies ("Drivo Plus", "Utrecht"). A chunk's heading line ("Title >
    Section") and table cells are title-cased by habit and left out.

    >>> sorted(names(["Heading > Part\\nCall the Utrecht centre. The Drivo Plus plan costs more than plus."]))
    ['drivo', 'utrecht']
    """
    upper: set[str] = set()
    lower: set[str] = set()
    for text in texts:
        body = text.split("\n", 1)[1] if "\n" in text else text
        for line in body.splitlines():
            line = line.strip().lstrip("#*->•").strip()
            for part in re.split(r"\s*\|\s*|:\s+", line):
                for sentence in split_sentences(part):
                    for word in _WORD.findall(sentence)[1:]:
                        (upper if word[0].isupper() else lower).add(word.lower().strip("'’-"))
    return {w for w in upper - lower if len(w) > 2 and w not in STOPWORDS and w not in _NOT_NAMES}


def asked_entities(question: str, texts: Sequence[str]) -> tuple[set[str], set[str]]:
    """What the customer named that the retrieved texts name too: (codes and model numbers, the texts'
    names that the question uses in any case: customers type "drivo").

    >>> asked_entities("does drivo do student discounts? P340", ["Fees\\nThe Drivo app. The P340 prints."])
    ({'p340'}, {'drivo'})
    """
    joined = "\n".join(texts).lower()
    found = {i for i in identifiers(question) if i in joined}
    words = {w.lower() for w in _WORD.findall(question)}
    return found, words & names(texts)


def uncovered(question: str, known: Callable[[str], bool]) -> set[str]:
    """Model numbers and codes the question names that no indexed document names (`known(term)`): the
    knowledge base does not cover that product, so any figure given for it would be another product's.

    >>> sorted(uncovered("warranty on the Quillo P780? and the P340", lambda t: t == "p340"))
    ['p780']
    """
    return {i for i in identifiers(question) if not known(i)}


@dataclass
class Checked:
    """An answer after verification: the sentences kept, and each dropped one with why."""

    text: str
    dropped: list[tuple[str, str]] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # what `text` joins (in_document_words: the sentences shown)


def _sentences(answer: str) -> list[str]:
    return [s for s in split_sentences(answer.strip()) if s.strip()]


_CLAUSE_BREAK = re.compile(r"(?:,\s+(?:and|but|while|whereas)|;)\s+(?=\w)")


def clauses(sentence: str) -> list[str]:
    """A long answer sentence that joins statements ("…, and …", "…; …") as its parts, each checked on its own
    (a model merges two or three document sentences into one); the sentence's citations go with each part.
    Parts under four words stay joined.

    >>> clauses("The exit fee is $99 if you cancel early, and it is waived if you move away [1].")
    ['The exit fee is $99 if you cancel early [1].', 'it is waived if you move away [1].']
    >>> clauses("Bread, and butter [2].")
    ['Bread, and butter [2].']
    """
    parts = _CLAUSE_BREAK.split(sentence)
    if len(parts) < 2 or any(len(_WORD.findall(p)) < 4 for p in parts):
        return [sentence]
    marks = "".join(f" {m.group()}" for m in CITATION.finditer(sentence))
    bare = [" ".join(strip_citations(p).split()).rstrip(" .") for p in parts]
    return [f"{p}{marks}." for p in bare]


def check_entities(answer: str, question: str, texts: Sequence[str], doc_ids: Sequence[str],
                   mentions: Callable[[str, str], bool]) -> Checked:
    """Drop each sentence whose sources are about something else than what the customer named: when the
    question names codes or model numbers, the cited chunks must name one of them (an error code's advice
    sits in its own section); when it names a company, product or place the documents name, the cited
    documents must name one of those (`mentions(doc_id, stemmed term)`: anywhere in the document, as a
    company's name is not repeated in every chunk). A sentence without a citation is judged by all texts.

    >>> texts = ["Codes > E-900\\nE-900: hardware fault, contact support.", "Codes > E-221\\nE-221: retry."]
    >>> check_entities("Contact support [1]. Retry the update [2].", "hub shows E-221", texts, ["a", "a"],
    ...                lambda d, t: True).text
    'Retry the update [2].'
    """
    codes, named = asked_entities(question, texts)
    if not codes and not named:
        return Checked(answer)
    kept, dropped = [], []
    for sentence in _sentences(answer):
        numbers = cited_numbers(sentence, len(texts)) or list(range(1, len(texts) + 1))
        cited = " ".join(texts[n - 1].lower() for n in numbers)
        if codes and not any(c in cited for c in codes):
            dropped.append((sentence, f"its source is not about {', '.join(sorted(codes))}"))
        elif named and not any(n in cited or mentions(doc_ids[i - 1], tokenize(n)[0])
                               for n in named for i in numbers):
            dropped.append((sentence, f"its source does not mention {', '.join(sorted(named))}"))
        else:
            kept.append(sentence)
    return Checked(" ".join(kept), dropped)


def check_messages(answer_messages: list[prompts.Message], raw_answer: str, sentence: str,
                   numbers: Sequence[int]) -> list[prompts.Message]:
    """The answer conversation continued with the check of one sentence: the answer prompt and the model's
    own answer as it was written (so a KV cache holds all of it), then the question."""
    where = (f"document [{numbers[0]}]" if len(numbers) == 1
             else "documents " + ", ".join(f"[{n}]" for n in numbers) if numbers else "the documents")
    question = CHECK_QUESTION.format(sentence=strip_citations(sentence), where=where)
    return [*answer_messages, {"role": "assistant", "content": raw_answer}, {"role": "user", "content": question}]


def says_yes(reply: str) -> bool:
    """Whether a check's reply is a plain yes.

    >>> says_yes("Yes."), says_yes(" yes, it does"), says_yes("No"), says_yes("Yes and no"), says_yes("")
    (True, True, False, False, False)
    """
    words = re.findall(r"[a-z]+", reply.lower())
    return bool(words) and words[0] == "yes" and "no" not in words[1:3]


def check_with_model(model: BaseChatModel, answer_messages: list[prompts.Message], raw_answer: str,
                     answer: str, n_sources: int) -> Checked:
    """Ask the answer model, sentence by sentence, whether the cited documents state it; keep the yeses."""
    from chatbot.rag.chain import as_langchain

    judge = with_options(model, max_new_tokens=3) | StrOutputParser()
    kept, dropped = [], []
    for sentence in _sentences(answer):
        if not strip_citations(sentence).strip(" .!?"):
            continue
        reply = judge.invoke(as_langchain(check_messages(answer_messages, raw_answer, sentence,
                                                         cited_numbers(sentence, n_sources))))
        if says_yes(reply):
            kept.append(sentence)
        else:
            dropped.append((sentence, f"the model's check said {reply.strip()[:20]!r}"))
    return Checked(" ".join(kept), dropped)


def document_sentences(text: str) -> list[str]:
    """The sentences, list items and table rows of one chunk (its heading line left out), as shown: the
    excerpt selector's units (chatbot/rag/evidence.py).

    >>> document_sentences("Returns > Labels\\nDefective? We send a label. You pay otherwise.\\n- Keep the box")
    ['Defective?', 'We send a label.', 'You pay otherwise.', '- Keep the box']
    """
    return [unit.text for unit in units(text)[1]]


# Words a model uses to talk about its sources, not about the customer's case ("According to document [2], …").
_META = frozenset(tokenize("yes should would could need needs please according document documents doc source sources "
                           "text context provided state states "
                           "stated mention mentions mentioned found information answer question"))


def _statement_words(sentence: str) -> set[str]:
    return grounding.content_tokens(sentence) - _META


def _support(sentence: str, candidate: str, context: frozenset[str] = frozenset(), context_text: str = "") -> float:
    """How well one document sentence supports one answer sentence: the share of the answer sentence's content
    words it holds, or 0 when the answer states a figure it does not. `context`: words that count as held
    although the candidate lacks them (the customer's own words that the candidate's chunk also uses: "price
    to fix" for a table row "Repair: Paper pickup roller | LX340: $45" under "Out-of-warranty repair prices");
    `context_text`: where those words come from, whose figures the candidate need not repeat (the "E-104" asked).

    >>> row = "Repair: Pickup roller | LX340: $45"
    >>> round(_support("To fix the LX340 pickup roller costs $45.", row), 2)
    0.67
    >>> _support("To fix the LX340 pickup roller costs $45.", row, frozenset({"fix", "cost"}))
    1.0
    >>> _support("It costs $49 [1].", row), _support("Yes, you pay to fix it.", row, frozenset({"pay", "fix"}))
    (0.0, 0.0)
    >>> intro = "When the Hub is offline, the app shows E-104 and the LED turns amber."
    >>> asked = "how do I fix E-104 on my hub"
    >>> context = frozenset(grounding.content_tokens(asked))
    >>> _support("To fix E-104, restart the Hub [1].", intro, context, asked)  # it adds "restart"
    0.0
    >>> _support("To fix E-104, restart the Hub [1].", "Restart the Hub.", context, asked)
    1.0
    """
    words = _statement_words(sentence)
    if not words or grounding.unsupported_figures(sentence, [candidate, context_text]):
        return 0.0
    held = words & grounding.content_tokens(candidate)
    new = words - context  # what the answer adds to the customer's words and the section's title
    if new and len(held & new) < MIN_SUPPORT * len(new):  # the candidate must state most of it: "restart"
        return 0.0
    if not new and len(held) < MIN_OWN_SUPPORT * len(words):  # an answer that only restates the question
        return 0.0
    return len(held | words & context) / len(words)


def about_another(sentence: str, question: str) -> bool:
    """Whether a document sentence names model numbers or codes and none of those the customer named: it is
    about a sibling product ("The LX360's drum lasts 30,000 pages" for a question about the LX340).

    >>> about_another("The LX360's DR-36 drum lasts about 30,000 pages.", "how long does the lx340 drum last")
    True
    >>> about_another("Repair: Pickup roller | LX340: $45 | LX360: $45", "pickup roller on the lx340?")
    False
    >>> about_another("The LX360's drum lasts 30,000 pages.", "how long does the drum last")
    False
    """
    asked = identifiers(question)
    named = identifiers(sentence)
    return bool(asked and named) and not asked & named


def in_document_words(answer: str, texts: Sequence[str], min_support: float = MIN_SUPPORT,
                      question: str = "") -> Checked:
    """The answer shown in the documents' own words: each sentence of the model's answer is replaced by the
    document sentence (or table row) that supports it best, cited with the number of the text that holds it —
    so its conditions ("if it arrived defective") and the product it is about come with it; a sentence that
    no single document sentence supports (a figure none states, or under `min_support` of its content words)
    is dropped. The cited text is preferred on a tie.

    >>> texts = ["Returns > Shipping\\nIf it arrived defective, we send a prepaid label. Otherwise you pay."]
    >>> in_document_words("We send you a prepaid label [1]. Returns cost €5 [1].", texts).text
    'If it arrived defective, we send a prepaid label. [1]'
    >>> in_document_words("2. [1]", ["Steps\\n1. Unplug it. 2. Wait."]).text  # a list number is no statement
    ''
    """
    candidates = [_with_pairs([c for c in document_sentences(t) if re.search(r"[^\W\d_]", c)
                               and not (question and about_another(c, question))]) for t in texts]
    asked = grounding.content_tokens(question)
    # words held although the sentence lacks them: the customer's words its chunk uses, and its section's title
    context = [frozenset(asked & grounding.content_tokens(t) | grounding.content_tokens(t.partition("\n")[0]))
               for t in texts]
    context_text = [f"{question}\n{t.partition(chr(10))[0]}" for t in texts]
    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    for sentence in (clause for whole in _sentences(answer) for clause in clauses(whole)):
        words = _statement_words(sentence)
        if not words or not re.search(r"[^\W\d_]", strip_citations(sentence)):
            continue  # "2." (a list number split off), "This is found in document [1].": no statement
        cited = [n - 1 for n in cited_numbers(sentence, len(texts))]
        order = cited + [i for i in range(len(texts)) if i not in cited]
        # best support first; on a tie the cited text, then a single sentence before two, then the sentence that
        # itself holds more of the answer's words
        scored = [(_support(sentence, candidate, context[i], context_text[i]), -rank, single,
                   len(words & grounding.content_tokens(candidate)), i, candidate)
                  for rank, i in enumerate(order) for candidate, single in candidates[i]]
        # the cited document's best sentence when it supports the answer (small models cite the right document
        # more often than another document's sentence happens to share more words), else the best of all
        best = max((x for x in scored if x[4] in cited and x[0] >= min_support), default=None) or max(
            scored, default=None)
        if best is None or best[0] < min_support:
            dropped.append((sentence, "no sentence of the documents states it"))
            continue
        shown = f"{best[5]} [{best[4] + 1}]"
        if shown not in kept:
            kept.append(shown)
    return Checked(join_shown(kept), dropped, kept)


def join_shown(parts: Sequence[str]) -> str:
    """Shown sentences as one answer: a paragraph each when one is a table row, else one paragraph.

    >>> join_shown(["A. [1]", "B. [2]"]), join_shown(["Plan: X | Price: 5 [1]", "B. [1]"])
    ('A. [1] B. [2]', 'Plan: X | Price: 5 [1]\\n\\nB. [1]')
    """
    return ("\n\n" if any(" | " in p for p in parts) else " ").join(parts)


def _with_pairs(sentences: Sequence[str]) -> list[tuple[str, int]]:
    """(text, 1) for each sentence, then (text, 0) for each two neighbours together: an answer sentence may
    join a condition and its consequence that the document states in two ("Register within 60 days and we add
    a year. A registered LX360 is covered for 3."). A single sentence is preferred when it supports as well.

    >>> _with_pairs(["- A.", "B."])
    [('A.', 1), ('B.', 1), ('A. B.', 0)]
    """
    clean = [_LEAD.sub("", s).replace("**", "").replace("__", "") for s in sentences]  # shown as plain text
    return [(s, 1) for s in clean] + [(f"{a} {b}", 0) for a, b in zip(clean, clean[1:])
                                      if not (" | " in a and " | " in b)]  # a table row is whole: not two


def has_statement(text: str) -> bool:
    """Whether anything with a word in it is left once citations are removed."""
    return any(c.isalnum() for c in CITATION.sub("", text))
