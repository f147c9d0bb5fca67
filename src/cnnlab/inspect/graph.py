"""A model as a graph of the tensors its forward pass makes, with every node's value for one image.

`torch.fx` symbolic tracing of ``forward_head(forward_features(x))`` gives the real data flow,
branches and joins included (a residual ``add``, Inception's and DenseNet's ``cat``). A model
fx cannot trace (data-dependent control flow, ...) falls back to its leaf modules in the order
they run, joined as a chain; ``traced`` and ``note`` say so. Identity-like modules (Dropout,
Identity) are dropped; nodes that make no tensor (``size()``, ``chunk``) are looked through.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
from torch import nn

# module class -> node kind; subclasses count (first match in this order)
MODULE_KINDS: tuple[tuple[type, str], ...] = (
    (nn.Conv2d, "conv"),
    (nn.Linear, "linear"),
    ((nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.InstanceNorm2d), "norm"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), "pool"),
    ((nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
      nn.Mish, nn.PReLU, nn.Softplus), "act"),
    (nn.Flatten, "flatten"),
)
PASS_THROUGH = (nn.Dropout, nn.Dropout2d, nn.Identity)
FUNCTION_KINDS: dict[Any, str] = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.mul: "mul", torch.mul: "mul",
    torch.cat: "cat", torch.flatten: "flatten",
    torch.relu: "act", torch.nn.functional.relu: "act", torch.sigmoid: "act", torch.nn.functional.gelu: "act",
    torch.nn.functional.adaptive_avg_pool2d: "pool", torch.nn.functional.max_pool2d: "pool",
    torch.nn.functional.avg_pool2d: "pool", torch.max_pool2d: "pool",
}
POOL_ARGS = ("kernel_size", "stride", "padding")  # positional order of the pooling functions after the input
METHOD_KINDS = {"flatten": "flatten", "view": "flatten", "reshape": "flatten", "mean": "pool", "relu": "act",
                "sigmoid": "act", "add": "add", "mul": "mul"}


@dataclass
class GraphNode:
    id: str
    kind: str                        # input, conv, act, pool, norm, linear, flatten, add, mul, cat, other
    op: str                          # what ran: module class or function name
    module: str | None               # module path in the model, for call_module nodes
    inputs: list[str]                # ids of the nodes whose tensors it reads
    shape: tuple[int, ...]           # output shape without the batch dimension
    params: dict[str, Any] = field(default_factory=dict)

    def reads(self, channel: int, input_shapes: list[tuple[int, ...]]) -> list[tuple[str, list[int] | None]]:
        """(input id, its channels this output channel reads; None = all of them), per input."""
        if self.kind == "conv":
            groups, out_c = self.params["groups"], self.shape[0]
            per_group = input_shapes[0][0] // groups
            g = channel // (out_c // groups)
            return [(self.inputs[0], list(range(g * per_group, (g + 1) * per_group)))]
        if self.kind == "cat":
            offset = 0
            for node_id, shape in zip(self.inputs, input_shapes):
                if offset <= channel < offset + shape[0]:
                    return [(node_id, [channel - offset])]
                offset += shape[0]
        if self.kind == "flatten" and input_shapes and len(input_shapes[0]) == 3:
            c, h, w = input_shapes[0]
            return [(self.inputs[0], [channel // (h * w)])] if h * w and channel < c * h * w else []
        if self.kind != "linear":
            return [(i, [channel] if s and s[0] == self.shape[0] else None) for i, s in zip(self.inputs, input_shapes)]
        return [(i, None) for i in self.inputs]


@dataclass
class NetGraph:
    nodes: list[GraphNode]           # topological order, the input first
    values: dict[str, torch.Tensor]  # node id -> its output for the image (batch dimension dropped)
    traced: bool
    note: str = ""

    def node(self, node_id: str) -> GraphNode:
        return self._by_id[node_id]

    def __post_init__(self) -> None:
        self._by_id = {n.id: n for n in self.nodes}

    def depths(self) -> dict[str, int]:
        """Column of each node: the longest path from the input (a join sits after all its branches)."""
        depth: dict[str, int] = {}
        for n in self.nodes:
            depth[n.id] = 1 + max((depth[i] for i in n.inputs), default=-1)
        return depth

    def columns(self) -> list[list[str]]:
        depth = self.depths()
        cols: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)] if depth else []
        for n in self.nodes:
            cols[depth[n.id]].append(n.id)
        return cols

    def reads(self, node_id: str, channel: int) -> list[tuple[str, list[int] | None]]:
        n = self.node(node_id)
        return n.reads(channel, [self.node(i).shape for i in n.inputs])


def _module_kind(module: nn.Module) -> str:
    return next((kind for cls, kind in MODULE_KINDS if isinstance(module, cls)), "other")


def _module_params(module: nn.Module) -> dict[str, Any]:
    """The settings a student needs to read a layer's label: kernel, stride, padding, groups."""
    keep = ("kernel_size", "stride", "padding", "dilation", "groups", "output_size", "in_features", "out_features")
    params = {k: getattr(module, k) for k in keep if hasattr(module, k)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if isinstance(v, (int, tuple, str))}


def _pool_function_params(n: fx.Node) -> dict[str, Any]:
    """kernel/stride/padding of ``F.max_pool2d(x, 2)``-style calls (stride defaults to the kernel)."""
    given = {**dict(zip(POOL_ARGS, n.args[1:])), **{k: v for k, v in n.kwargs.items() if k in POOL_ARGS}}
    if given.get("stride") in (None, [], ()):
        given["stride"] = given.get("kernel_size")
    given.setdefault("padding", 0)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in given.items() if isinstance(v, (int, tuple, list))}


class _LayerTracer(fx.Tracer):
    """fx's tracer, with every module of a known kind a node of its own, subclasses included
    (`cnnlab.layers.GELU`, a frozen-scale BatchNorm): fx traces into any module defined outside torch.nn."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return _module_kind(m) != "other" or super().is_leaf_module(m, module_qualified_name)


class _Body(nn.Module):
    """The model without its input-shape check (control flow fx cannot trace)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        has_parts = hasattr(self.net, "forward_features") and hasattr(self.net, "forward_head")
        return self.net.forward_head(self.net.forward_features(x)) if has_parts else self.net(x)


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.outputs: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.outputs[n.name] = out
        return out


def _strip(path: str) -> str:
    return path[len("net."):] if path.startswith("net.") else path


def _function_name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def trace_graph(model: nn.Module, x: torch.Tensor) -> NetGraph:
    """The graph of ``model`` run on one image ``x`` (1, C, H, W), with every node's output."""
    try:
        body = _Body(model)
        gm = fx.GraphModule(body, _LayerTracer().trace(body))
    except Exception as err:  # noqa: BLE001 - fx raises many kinds; any of them means "use the fallback"
        reason = str(err).splitlines()[0][:160]
        return _module_chain(model, x, f"torch.fx could not trace this model ({type(err).__name__}: {reason}); "
                                       "its layers are shown in the order they run, as a chain (branches not drawn)")
    recorder = _Recorder(gm)
    with torch.no_grad():
        recorder.run(x)
    modules = dict(gm.named_modules())
    alias: dict[str, list[str]] = {}  # node -> the tensor nodes it stands for (looked-through nodes)
    nodes: list[GraphNode] = []
    for n in gm.graph.nodes:
        ins = [t for a in n.all_input_nodes for t in alias.get(a.name, [])]
        out = recorder.outputs.get(n.name)
        if n.op == "output":
            continue
        module = modules.get(n.target) if n.op == "call_module" else None
        if not isinstance(out, torch.Tensor) or out.dim() < 2 or isinstance(module, PASS_THROUGH):
            alias[n.name] = ins
            continue
        alias[n.name] = [n.name]
        if n.op == "placeholder":
            kind, op, params = "input", "input", {}
        elif module is not None:
            kind, op, params = _module_kind(module), type(module).__name__, _module_params(module)
        elif n.op == "call_function":
            kind, op, params = FUNCTION_KINDS.get(n.target, "other"), _function_name(n.target), {}
            if kind == "pool" and "adaptive" not in op:
                params = _pool_function_params(n)
        else:
            kind, op, params = METHOD_KINDS.get(str(n.target), "other"), str(n.target), {}
        path = _strip(str(n.target)) if module is not None else None
        nodes.append(GraphNode(path or n.name, kind, op, path, list(dict.fromkeys(ins)), tuple(out.shape[1:]), params))
    ids = {n.name: (_strip(str(n.target)) if n.op == "call_module" else n.name) for n in gm.graph.nodes}
    for node in nodes:
        node.inputs = [ids[i] for i in node.inputs]
    values = {ids[name]: out[0].detach() for name, out in recorder.outputs.items()
              if isinstance(out, torch.Tensor) and ids.get(name) in {n.id for n in nodes}}
    return NetGraph(nodes, values, traced=True)


def _module_chain(model: nn.Module, x: torch.Tensor, note: str) -> NetGraph:
    """Fallback: the leaf modules in execution order, each reading the one before."""
    seen: dict[str, torch.Tensor] = {}
    order: list[tuple[str, nn.Module]] = []

    def make(name: str, module: nn.Module) -> Callable[..., None]:
        def hook(_m: nn.Module, _inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor) and name not in seen:
                seen[name] = output[0].detach().clone()
                order.append((name, module))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children()) and not isinstance(m, PASS_THROUGH)]
    handles = [m.register_forward_hook(make(n, m)) for n, m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    nodes = [GraphNode("x", "input", "input", None, [], tuple(x.shape[1:]))]
    values = {"x": x[0].detach()}
    for name, module in order:
        nodes.append(GraphNode(name, _module_kind(module), type(module).__name__, name, [nodes[-1].id],
                               tuple(seen[name].shape), _module_params(module)))
        values[name] = seen[name]
    return NetGraph(nodes, values, traced=False, note=note)
