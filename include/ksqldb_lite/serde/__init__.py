"""Serialization: the KAFKA, JSON and NONE formats, generated JSON readers and the typed JSON scan."""
