"""The shape arithmetic the check stage reports with; the rules themselves are declared on the
layer models (:mod:`netdef.schema.shapes`)."""

from ..schema.shapes import (InputWeights, Inferred, Shape, conv_out_side, numel,
                             pool_out_side)

__all__ = ["InputWeights", "Inferred", "Shape", "conv_out_side", "numel", "pool_out_side"]
