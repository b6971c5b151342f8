"""DirectProbe: exact, deterministic clustering of labelled representations into non-overlapping hulls.

``directprobe(X, y)`` returns a :class:`DirectProbeResult`; :func:`spatial_similarity` compares the
label-distance structure of two results.
"""
from .probe import VERSION, directprobe
from .result import DirectProbeResult, spatial_similarity

__all__ = ["VERSION", "DirectProbeResult", "directprobe", "spatial_similarity"]
