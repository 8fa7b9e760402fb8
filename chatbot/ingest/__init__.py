"""Files in, chunks out: `load(path)` reads one file into a Document, `split(doc)` cuts it into Chunks."""

from chatbot.ingest.loaders import IngestError, load, safe_name
from chatbot.ingest.split import split

__all__ = ["IngestError", "load", "safe_name", "split"]
