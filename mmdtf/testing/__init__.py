"""Deliberately naive references of mmdtf's ops, for tests and benchmarks.

Each is written as literally as the spec reads, shares no code with the
implementation it checks, and is slow on purpose.
"""
from .naive_frame_aggregation import naive_frame_aggregation

__all__ = ['naive_frame_aggregation']
