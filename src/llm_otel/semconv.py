"""Every attribute and metric name llm-otel reads or writes, defined once.

GenAI names follow open-telemetry/semantic-conventions-genai at commit
``e8fc5751506258db1459d1bde47994e01dee922e`` (``model/gen-ai/registry.yaml``).
They are deliberately NOT imported from ``opentelemetry-semantic-conventions`` on
PyPI: that package lags the registry (it still says ``cache_creation`` where the
registry says ``cache_write``). Names under ``llm_otel.*`` are ours: the
conventions have nothing for task attribution, TTL splits or cost.

Names of other instrumentations' dialects (OpenLLMetry, OpenInference, OpenLIT,
the anthropic SDK's native spans) live with their readers in
``llm_otel.processor.dialects``; this module is the contract we emit.
"""

from __future__ import annotations

from typing import Final

SEMCONV_GENAI_COMMIT: Final = "e8fc5751506258db1459d1bde47994e01dee922e"

# --- GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_INVOKE_AGENT: Final = "invoke_agent"

# gen_ai.provider.name values
PROVIDER_OPENAI: Final = "openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"
PROVIDER_GCP_VERTEX_AI: Final = "gcp.vertex_ai"

# --- llm_otel namespace --------------------------------------------------------
TASK_ID: Final = "llm_otel.task.id"
TASK_TYPE: Final = "llm_otel.task.type"
TEAM: Final = "llm_otel.team"
TASK_STATUS: Final = "llm_otel.task.status"
TASK_BUDGET_USD: Final = "llm_otel.task.budget_usd"
PROMPT_TEMPLATE: Final = "llm_otel.prompt.template"
PROMPT_VERSION: Final = "llm_otel.prompt.version"
USAGE_CACHE_WRITE_5M: Final = "llm_otel.usage.cache_write_5m.input_tokens"
USAGE_CACHE_WRITE_1H: Final = "llm_otel.usage.cache_write_1h.input_tokens"
USAGE_CACHE_WRITE_30M: Final = "llm_otel.usage.cache_write_30m.input_tokens"
USAGE_CACHE_WRITE_12H: Final = "llm_otel.usage.cache_write_12h.input_tokens"
# Anthropic `usage.iterations` (compaction, advisor): billed, absent from top-level usage.
# Per kind: llm_otel.usage.iterations.<kind>.input_tokens etc., see iteration_attribute().
USAGE_ITERATIONS_PREFIX: Final = "llm_otel.usage.iterations."
SERVICE_TIER: Final = "llm_otel.service_tier"
REQUEST_TOOLS_COUNT: Final = "llm_otel.request.tools.count"
REQUEST_TOOLS_BYTES: Final = "llm_otel.request.tools.bytes"
REQUEST_MESSAGES_COUNT: Final = "llm_otel.request.messages.count"
STREAM_COMPLETE: Final = "llm_otel.stream.complete"
USAGE_ESTIMATED: Final = "llm_otel.usage.estimated"
COST_USD: Final = "llm_otel.cost.usd"
COST_LIST_USD: Final = "llm_otel.cost.list_usd"
COST_SOURCE: Final = "llm_otel.cost.source"
COST_CACHE_SAVINGS_USD: Final = "llm_otel.cost.cache_savings_usd"
AVOIDED_PREFIX: Final = "llm_otel.avoided."

# Baggage keys carrying task attribution across services (W3C baggage).
BAGGAGE_TASK_ID: Final = TASK_ID
BAGGAGE_TASK_TYPE: Final = TASK_TYPE
BAGGAGE_TEAM: Final = TEAM

# Name of the span `task()` emits, and the scope our tracer reports.
TASK_SPAN_NAME_PREFIX: Final = "llm_otel.task"
INSTRUMENTATION_SCOPE: Final = "llm_otel"


def iteration_attribute(kind: str, bucket: str) -> str:
    """Attribute for one bucket of Anthropic iteration usage, e.g. ('advisor', 'input_tokens')."""
    return f"{USAGE_ITERATIONS_PREFIX}{kind}.{bucket}"


# --- Prometheus metric names (processor) ---------------------------------------
METRIC_COST: Final = "llm_cost_usd"  # exposed as llm_cost_usd_total
METRIC_TOKENS: Final = "llm_tokens"
METRIC_CALLS: Final = "llm_calls"
METRIC_CACHE_SAVINGS: Final = "llm_cache_savings_usd"
METRIC_UNPRICED_CALLS: Final = "llm_unpriced_calls"
METRIC_TASK_COST: Final = "llm_task_cost_usd"
METRIC_TASK_ANOMALIES: Final = "llm_task_anomalies"
METRIC_PROMPT_COST: Final = "llm_prompt_cost_usd"
METRIC_BUDGET: Final = "llm_budget_usd"
METRIC_AVOIDED_COST: Final = "llm_avoided_cost_usd"
METRIC_AVOIDED_CALLS: Final = "llm_avoided_calls"  # LLM calls skip_unchanged did not make

UNATTRIBUTED: Final = "unattributed"
TOKEN_TYPES: Final = ("input", "cache_read", "cache_write", "output")
