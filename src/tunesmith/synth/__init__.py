"""`data synth`: instruction records built from raw documents by asking an LLM.

documents.py reads the files, split.py cuts them into passages, prompts.py says what to ask,
client.py / local.py are the two LLM backends (an OpenAI-compatible endpoint, or a local model
through tunesmith's own generation), cache.py makes every answer cost once, checks.py drops bad
questions, and run.py ties them together into Alpaca records.
"""
