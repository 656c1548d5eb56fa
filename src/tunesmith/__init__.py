"""tunesmith: instruction fine-tuning of Llama-family models, from raw data to a served model."""

__version__ = "0.1.0"
