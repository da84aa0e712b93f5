"""Deploying trained recognizers: ONNX export (:mod:`.onnx_export`).

Above the models in the layering (``ops -> models -> deployment``): it
imports them, nothing in ``ops`` or ``models`` imports it. Not imported by
``import mmdtf``.
"""
