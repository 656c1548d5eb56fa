"""Records as tokens: chat templates (`templates`, `auto` for the tokenizer's own), rendering with the loss
mask (`render`, `render_pair`), the one sample type (`sample`) and batching (`batching`)."""
