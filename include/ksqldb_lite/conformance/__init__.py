"""Conformance: run ksqlDB's query-validation test files against the engine (in memory)."""
