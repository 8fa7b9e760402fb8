"""Self-hosted customer-support chatbot: cited RAG answers, fine-tuned models, side by side."""

__version__ = "0.1.0"
