"""Fine-tuning: build training rows from tickets and the knowledge base (`data`), train a model
(`train`), and keep a registry of trained models with the active one (`registry`).

Only `data` and `registry` are imported eagerly; `train` pulls in torch and is imported on use."""
