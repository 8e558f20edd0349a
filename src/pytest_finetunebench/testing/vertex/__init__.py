"""The Vertex AI emulator: Gemini tuning jobs, generateContent and the Cloud Storage it reads."""
