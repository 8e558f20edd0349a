"""The Together AI emulator: files, fine-tune jobs and chat completions, as the real SDK speaks them."""
