"""Generation, interactive chat and the OpenAI-compatible server."""
