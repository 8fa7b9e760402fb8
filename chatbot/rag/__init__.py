"""Answering: `answer` runs one question in one arm (prepare, generate, the answer checks) over the LCEL
steps of `chain`; `retrieval` (hybrid, with the BM25 index of `keyword`) finds the chunks, `evidence`
picks the sentences the prompt quotes, `prompts` writes the prompts and reads declines, `citations`,
`grounding` and `loops` check the answer.

Nothing is imported here: import the module you need."""
