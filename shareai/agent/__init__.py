"""The node agent: hardware detection, local GGUF models behind an OpenAI-compatible endpoint,
enrollment, registration and heartbeats to a coordinator."""
