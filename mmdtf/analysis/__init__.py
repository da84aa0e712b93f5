"""Model-level analysis for the tools: FLOPs (:mod:`.flops`) and timing,
memory and input shapes (:mod:`.benchmark`).

Above the models in the layering (``ops -> models -> analysis``): it
imports them, nothing in ``ops`` or ``models`` imports it. Not imported by
``import mmdtf``.
"""
