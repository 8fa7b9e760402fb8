"""Generation: the chat-model backends behind LangChain's `BaseChatModel` (`llamacpp`, `transformers`, with
their shared `base`), the decoding guards they apply (`decline_guard`, `repeat_guard`), the factory that
picks a backend from the settings (`factory`), packaged model weights (`files`) and the GGUF export of a
fine-tuned model (`gguf_export`).

Nothing is imported here: the backends pull in torch or llama.cpp; import the module you need."""
