"""Test doubles that are real servers: fake OpenAI-compatible providers (see `provider`)."""
