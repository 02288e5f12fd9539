"""Running queries: record processors for streams and tables, query handles, the topic-driver protocol and its in-memory driver."""
