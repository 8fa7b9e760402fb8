"""Fine-tuning: training rows from tickets and the knowledge base (`data`), questions written per chunk by a
model (`pairs`), RAG-prompt rows for the hybrid arm (`raft`), the live-KB pipeline (`kb_training`), training
(`train`) and the registry of trained models with the active one (`registry`).

Nothing is imported here: `train` pulls in torch, `pairs` a chat model; import the module you need."""
