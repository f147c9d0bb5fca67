"""Model inspection: per-layer summaries and convolution arithmetic.

- `summary(model, input_size)`: output shape, parameters, MACs/FLOPs and receptive field per layer.
- `conv_output_size`, `conv_arithmetic`: the formulas of a conv/pool layer, with helpful errors;
  `transposed_conv_output_size`, `effective_filter_size`, `conv_params` for the conv variants.
- `step_flops(model, (C, H, W))`: forward and backward FLOPs of a training step per image.
- `FlopCount`: a context that totals the FLOPs of the code run inside it (PyTorch's formulas).
- `ReceptiveFieldTracker`, `stacked_receptive_field`: receptive fields of real nets and of stacks.
- `conv_channel(model, x, layer, k)`: one conv output channel written out position by position.
- `trace_graph(model, x)`: the model as a graph of tensors (torch.fx), with every node's value.
"""
from cnnlab.inspect.conv_arithmetic import (ConvLayer, ConvReport, conv_arithmetic, conv_output_size, conv_params,
                                            effective_filter_size, resolve_padding, transposed_conv_output_size)
from cnnlab.inspect.conv_steps import ConvChannel, ConvPosition, conv_channel
from cnnlab.inspect.flop_count import FlopCount
from cnnlab.inspect.flops import StepFlops, step_flops
from cnnlab.inspect.graph import GraphNode, NetGraph, trace_graph
from cnnlab.inspect.receptive_field import ReceptiveField, ReceptiveFieldTracker, stacked_receptive_field
from cnnlab.inspect.sizes import parse_size
from cnnlab.inspect.summary import LayerRow, ModelSummary, SummaryTotals, summary

__all__ = [
    "ConvChannel",
    "ConvLayer",
    "ConvPosition",
    "GraphNode",
    "ConvReport",
    "FlopCount",
    "LayerRow",
    "ModelSummary",
    "NetGraph",
    "ReceptiveField",
    "ReceptiveFieldTracker",
    "StepFlops",
    "SummaryTotals",
    "conv_arithmetic",
    "conv_channel",
    "conv_output_size",
    "conv_params",
    "effective_filter_size",
    "parse_size",
    "resolve_padding",
    "stacked_receptive_field",
    "step_flops",
    "summary",
    "trace_graph",
    "transposed_conv_output_size",
]
