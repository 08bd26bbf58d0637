"""Why a task cost what it cost: anomaly detection and context economics, run as tasks finalize."""
