"""The explorer's network views for one image, as JSON-ready dicts: the graph of feature maps
(`cnnlab.inspect.graph`), one map opened large, and a conv channel's arithmetic followed by the
layers after it (`cnnlab.inspect.conv_steps`) and the softmax of the logits.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from cnnlab.app.analysis import data_url
from cnnlab.app.catalog import LoadedRun
from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_steps import conv_channel
from cnnlab.inspect.graph import GraphNode, NetGraph, trace_graph
from cnnlab.viz.activations import ACTIVATION_CMAP
from cnnlab.viz.grid import png_bytes, scale_tiles

TILES_PER_NODE = 6     # channels drawn per column before "show all" (the column then fits a laptop screen)
SHOWN_INPUTS = 8       # input channels of a conv whose patches are listed; the rest are summed as one term
BIG_SIDE = 280         # pixels of a map opened large
STEP_KINDS = ("norm", "act", "pool")  # the layers a conv's animation follows


def _tile(values: torch.Tensor, min_side: int = 0) -> dict[str, Any]:
    """A (h, w) map as a PNG on its own range, with that range."""
    v = values.float().cpu().numpy()
    return {"image": data_url(png_bytes(scale_tiles(v[None], "each")[0], ACTIVATION_CMAP, min_side=min_side)),
            "min": float(v.min()), "max": float(v.max())}


def _label(node: GraphNode) -> str:
    p = node.params
    if node.kind == "conv":
        k = "x".join(map(str, p.get("kernel_size", [])))
        extra = "".join(f" {n}{v[0] if isinstance(v, list) else v}" for n, v in
                        (("s", p.get("stride")), ("g", p.get("groups"))) if v not in (None, 1, [1, 1]))
        return f"conv {k}{extra}"
    if node.kind == "pool":
        k = p.get("kernel_size", p.get("output_size"))
        return f"{node.op.replace('2d', '')} {k if not isinstance(k, list) else 'x'.join(map(str, k))}".strip()
    return node.op.replace("2d", "")


def _tiles(graph: NetGraph, node: GraphNode, start: int, count: int) -> list[dict[str, Any]]:
    value = graph.values[node.id]
    if value.dim() == 3:
        return [{"channel": c, **_tile(value[c])} for c in range(start, min(start + count, value.shape[0]))]
    return []


def _node_json(graph: NetGraph, node: GraphNode, index: int, column: int, max_tiles: int) -> dict[str, Any]:
    value = graph.values[node.id]
    vector = value.flatten().float().cpu().numpy() if value.dim() == 1 else None
    return {
        "id": node.id, "index": index, "column": column, "kind": node.kind, "op": node.op, "label": _label(node),
        "shape": list(node.shape), "channels": node.shape[0] if len(node.shape) == 3 else 0,
        "inputs": node.inputs, "params": node.params,
        "tiles": _tiles(graph, node, 0, max_tiles),
        "vector": None if vector is None else [float(v) for v in vector[:64]],
        "vector_size": 0 if vector is None else int(vector.size),
    }


def _graph(run: LoadedRun, x: torch.Tensor) -> NetGraph:
    with run.lock:
        return trace_graph(run.model, x)


def graph_view(run: LoadedRun, x: torch.Tensor, max_tiles: int = TILES_PER_NODE) -> dict[str, Any]:
    """Every node of the model's graph as a column entry with its first ``max_tiles`` channel tiles."""
    graph = _graph(run, x)
    depth = graph.depths()
    nodes = [_node_json(graph, n, i, depth[n.id], max_tiles) for i, n in enumerate(graph.nodes)]
    return {"traced": graph.traced, "note": graph.note, "nodes": nodes, "columns": len(graph.columns()),
            "tiles_per_node": max_tiles}


def node_tiles(run: LoadedRun, x: torch.Tensor, node_id: str, start: int, count: int) -> dict[str, Any]:
    graph = _graph(run, x)
    node = _node_of(graph, node_id)
    return {"id": node_id, "tiles": _tiles(graph, node, start, count)}


def _node_of(graph: NetGraph, node_id: str) -> GraphNode:
    try:
        return graph.node(node_id)
    except KeyError:
        raise ConfigError(f"the graph has no node {node_id!r}: reload the network view") from None


def tile_view(run: LoadedRun, x: torch.Tensor, node_id: str, channel: int) -> dict[str, Any]:
    """One map opened large: its picture, value range, numbers, and the tiles it reads."""
    graph = _graph(run, x)
    node = _node_of(graph, node_id)
    value = graph.values[node.id]
    if value.dim() != 3 or not 0 <= channel < value.shape[0]:
        raise ConfigError(f"{node_id} has no channel {channel} (its output is {tuple(value.shape)})")
    m = value[channel].float().cpu().numpy()
    reads = [{"id": i, "channels": ch} for i, ch in graph.reads(node_id, channel)]
    return {"id": node_id, "channel": channel, "label": _label(node), "kind": node.kind, "shape": list(m.shape),
            **_tile(value[channel], BIG_SIDE), "values": np.round(m, 4).tolist(), "reads": reads}


def reads_view(run: LoadedRun, x: torch.Tensor, node_id: str, channel: int) -> list[dict[str, Any]]:
    graph = _graph(run, x)
    _node_of(graph, node_id)
    return [{"id": i, "channels": ch} for i, ch in graph.reads(node_id, channel)]


def _norm_affine(module: nn.Module, channel: int) -> dict[str, float] | None:
    """Eval-mode batch norm of one channel as ``y = scale * x + shift``."""
    if not isinstance(module, nn.modules.batchnorm._BatchNorm) or module.running_mean is None:
        return None
    scale = 1 / float(torch.sqrt(module.running_var[channel] + module.eps))
    gamma = float(module.weight.detach()[channel]) if module.weight is not None else 1.0
    beta = float(module.bias.detach()[channel]) if module.bias is not None else 0.0
    return {"scale": gamma * scale, "shift": beta - float(module.running_mean[channel]) * gamma * scale}


def _following_steps(run: LoadedRun, graph: NetGraph, layer: str, channel: int) -> list[dict[str, Any]]:
    """The norm / activation / pooling layers that read the conv's output one after the other (through
    one pooling: a conv-pool-norm-activation block is followed to its end)."""
    steps: list[dict[str, Any]] = []
    current = layer
    modules = dict(run.model.named_modules())
    while True:
        users = [n for n in graph.nodes if current in n.inputs]
        if len(users) != 1 or users[0].kind not in STEP_KINDS or len(users[0].inputs) != 1:
            return steps
        node = users[0]
        if node.kind == "pool" and any(s["kind"] == "pool" for s in steps):
            return steps  # the next block's pooling
        before, after = graph.values[current], graph.values[node.id]
        if before.dim() != 3 or after.dim() != 3:
            return steps
        step = {"id": node.id, "kind": node.kind, "op": node.op, "label": _label(node), "params": node.params,
                "input": np.round(before[channel].double().cpu().numpy(), 6).tolist(),
                "output": np.round(after[channel].double().cpu().numpy(), 6).tolist()}
        if node.kind == "norm" and node.module in modules:
            step["affine"] = _norm_affine(modules[node.module], channel)
        steps.append(step)
        current = node.id


def softmax_view(logits: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z), every term listed."""
    z = logits.double().cpu()
    shifted = z - z.max()
    exps = shifted.exp()
    return {"classes": classes, "logits": z.tolist(), "max": float(z.max()), "exps": exps.tolist(),
            "sum": float(exps.sum()), "probs": (exps / exps.sum()).tolist(),
            "model_probs": torch.softmax(logits.float(), 0).tolist()}


def conv_view(run: LoadedRun, x: torch.Tensor, layer: str, channel: int, shown: int = SHOWN_INPUTS) -> dict[str, Any]:
    """Channel ``channel`` of conv ``layer``: inputs, kernel, per-position sums, bias, output, the
    layers after it, and the head's softmax."""
    with run.lock, torch.no_grad():
        numbers = conv_channel(run.model, x, layer, channel)
        logits = run.model(x)[0]
        graph = trace_graph(run.model, x)
    n_shown = min(shown, len(numbers.input_channels))
    sums = numbers.channel_sums
    return {
        "layer": layer, "channel": channel, "input_channels": list(numbers.input_channels),
        "shown_inputs": n_shown,
        "padded_input": np.round(numbers.padded_input[:n_shown], 6).tolist(),   # (S, Hp, Wp)
        "weights": np.round(numbers.weights[:n_shown], 6).tolist(),             # (S, kh, kw)
        "channel_sums": np.round(sums[..., :n_shown], 6).tolist(),              # (Ho, Wo, S)
        "rest_sums": np.round(sums[..., n_shown:].sum(axis=-1), 6).tolist(),     # (Ho, Wo): the other channels
        "bias": numbers.bias, "stride": list(numbers.stride), "dilation": list(numbers.dilation),
        "padding": list(numbers.padding),
        "output": np.round(numbers.output, 6).tolist(),
        "model_output": numbers.model_output.tolist(),
        "next": _following_steps(run, graph, layer, channel),
        "softmax": softmax_view(logits, [str(c) for c in run.meta["classes"]]),
    }
