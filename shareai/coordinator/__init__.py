"""The coordinator: fleet registry (gRPC control plane) and the OpenAI-compatible gateway."""
