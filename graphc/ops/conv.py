"""Convolution and pooling, N-d (1 to 3 spatial dims), channels-first as in torch."""

from __future__ import annotations

#: the public builders (re-exported by graphc.ops and graphc)
__all__: list[str] = []
