"""The check stage: whole-net checks on a NetSpec, and loading a net from paths."""

from ..schema.shapes import InputWeights, Shape, conv_out_side, numel, pool_out_side
from .load import ParamsChoice, find_params, load, params_candidates
from .net import CheckedNet, LayerInfo, Transfer, check_net

__all__ = ["ParamsChoice", "find_params", "load", "params_candidates", "CheckedNet",
           "LayerInfo", "Transfer", "check_net", "InputWeights", "Shape", "conv_out_side",
           "numel", "pool_out_side"]
