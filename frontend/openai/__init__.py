"""OVMS's OpenAI-style endpoints that a classic (non-generative) server answers: the model list."""
