"""Evaluation: pure metrics (`metrics`), dataset loading (`dataset`), the harness that runs answer arms
over a dataset in an isolated store (`harness.run_eval`), the report writer (`report`), questions made
from the live knowledge base (`live_kb`) and fact recall in the prompt without generation
(`prompt_recall`). The `chatbot eval` subcommand is in chatbot/cli/evaluation.py.

Nothing is imported here: import the module you need."""
