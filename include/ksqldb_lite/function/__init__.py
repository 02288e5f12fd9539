"""Scalar functions (UDFs) with ksqlDB's overload resolution, and aggregate functions (UDAFs)."""
