"""Model files: ``save`` / ``load`` a Graph as validated JSON (no pickle, no eval)."""

from graphc.io.json_format import FORMAT_NAME, FORMAT_VERSION, dumps, load, loads, save

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "dumps", "load", "loads", "save"]
