"""OpenAI fine-tuning (and any OpenAI-compatible server): the provider and OpenAI's rules."""
