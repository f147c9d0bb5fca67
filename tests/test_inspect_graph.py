"""cnnlab.inspect.graph.trace_graph on the registered nets: fx traces them, each layer one node."""
from __future__ import annotations

import torch

from cnnlab.inspect.graph import trace_graph
from cnnlab.models import create_model


def test_cnnlabs_own_layer_classes_are_nodes_not_traced_into():
    # cnnlab.layers.GELU branches on the tensor's layout and FrozenScaleBatchNorm2d is defined outside
    # torch.nn: fx would trace into both (and fail on the branch) were they not leaves
    model = create_model("airnet_small").eval()
    graph = trace_graph(model, torch.randn(1, 1, 28, 28))
    assert graph.traced and graph.note == ""
    kinds = {node.id: node.kind for node in graph.nodes}
    assert kinds["groups.0.2"] == "norm" and kinds["groups.0.3"] == "act"
    assert graph.node("groups.0.3").inputs == ["groups.0.2"]
