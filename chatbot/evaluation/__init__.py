"""Evaluation: pure metrics, dataset loading, the harness that runs answer arms over a dataset in an
isolated store, and the report writer. Entry points: `run_eval` and the `chatbot eval` subcommand."""

from chatbot.evaluation.dataset import Dataset, DatasetError, Question, load_dataset, sample_questions
from chatbot.evaluation.harness import run_eval

__all__ = ["Dataset", "DatasetError", "Question", "load_dataset", "run_eval", "sample_questions"]
