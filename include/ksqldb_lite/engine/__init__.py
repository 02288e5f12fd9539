"""The engine: statements in, REST entities out; validation in a sandbox, DDL, properties, the command log."""
