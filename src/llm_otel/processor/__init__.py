"""The collector-side processor: OTLP in -> normalized calls -> dedupe -> price -> ledger -> rollup -> metrics."""
