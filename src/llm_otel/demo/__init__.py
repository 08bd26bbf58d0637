"""`llm-otel demo`: a fake OpenAI/Anthropic API, the processor and a simulated agent workload, on this machine."""
