"""Loading models and tokenizers, the embedded model catalog, and the fine-tuning method registry."""
