"""Gemini tuning on Vertex AI: the provider, Vertex AI's rules, asking a Gemini model."""
