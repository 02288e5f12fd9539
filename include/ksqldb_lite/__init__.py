"""ksqldb-lite: a ksqlDB-compatible server (REST API, KSQL streams and tables over Kafka).

Its own package: it never imports the replay library; the two talk only over HTTP.
"""

__version__ = "0.1.0"
