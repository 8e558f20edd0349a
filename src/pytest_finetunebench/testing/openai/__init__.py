"""The OpenAI emulator: chat completions, files and fine-tuning jobs, as the real SDK speaks them."""
