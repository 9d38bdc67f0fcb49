"""The node's local HTTP API: OpenAI-compatible chat, status, metrics, peermind extensions."""
