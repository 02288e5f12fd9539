"""The embedded stack: a real single-node Apache Kafka broker (KRaft) and the ksql server.

Nothing here needs Docker: Kafka's jars come from Maven Central (``runtime``), the machine's
Java 17+ runs them (``prereqs``), and ``manager`` starts, checks and stops the services.
"""
