"""Weights of the original implementations in mmdtf's models (converters)."""
