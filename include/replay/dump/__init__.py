"""The Meetup dump: a streaming reader, a realistic generator and an inspector."""

from replay.dump.reader import DumpInfo, DumpReader, SourceRecord, read_dump, sniff_dump

__all__ = ["DumpInfo", "DumpReader", "SourceRecord", "read_dump", "sniff_dump"]
