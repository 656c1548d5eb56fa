"""Asking an LLM over an OpenAI-compatible endpoint: a client that survives real endpoints' failures,
a persistent cache of answers, and a tally of what the asking cost. Used by `data synth` (questions per
passage) and by the safety step's judge."""
