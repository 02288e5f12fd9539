"""Meetup replay: validate a recorded event dump and replay it into Apache Kafka, measured."""

__version__ = "0.1.0"
