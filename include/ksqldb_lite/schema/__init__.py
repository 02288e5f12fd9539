"""SQL types, logical schemas and the metastore's sources, Java number and timestamp semantics."""
