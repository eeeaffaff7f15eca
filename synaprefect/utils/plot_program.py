"""``plot_program``: a program's graph as an image, drawn with matplotlib alone.

Modules are boxes (a module called twice is two boxes), arrows follow the data, and the
boxes are laid out in layers by depth: inputs first, each module one layer after its
deepest parent, siblings ordered by where their parents stand to keep arrows short. No
graphviz binary is needed.
"""

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synaprefect.utils.graph_layout import LAYER_GAP, layer_depths, layered_layout
from synaprefect.utils.plotting import new_figure, save_figure

__all__ = ["plot_program", "program_drawing"]

_PAD = 0.08  # inches around text inside a box
_ROUTE_WIDTH = 0.1  # inches an edge takes in a layer it crosses
_MARGIN = 0.2
_MAX_LINE = 72  # characters of a schema line before it is cut
_HEADER = "#2f3e4e"
_TRAINABLE = {True: ("Trainable", "#2e8b57"), False: ("Non-trainable", "#b22222")}
_RANKDIRS = ("TB", "LR", "BT", "RL")


@dataclass
class _Box:
    title: str
    body: list[str] = field(default_factory=list)
    trainable: bool | None = None  # None: no variables, nothing to say
    clusters: tuple[str, ...] = ()  # the nested programs around it, outermost first
    parts: list = field(default_factory=list)  # (text artist, band colour, height)
    width: float = 0.0
    height: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)  # in inches, once placed


def plot_program(
    program: Any,
    to_file: str | None = None,
    to_folder: str | os.PathLike | None = None,
    show_schemas: bool = False,
    show_module_names: bool = False,
    show_defs: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_trainable: bool = False,
    **kwargs,
) -> str:
    """Draw the program's modules and the data flowing between them, and save the image
    to ``to_folder/to_file`` (default ``<program name>.png``; ``.svg``/``.pdf`` work
    too). Returns the path written.

    ``show_module_names`` titles boxes ``name (Class)`` instead of ``Class``;
    ``show_schemas`` lists each call's input and output JSON schemas (``show_defs``
    keeps their ``$defs``); ``show_trainable`` marks modules with variables as trainable
    or not; ``rankdir`` is ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``. A
    subclassed program, whose structure lives in its code, is one box.
    ``expand_nested`` draws the modules of nested functional programs inside a dashed
    frame named after the nested program, instead of one box for it.

    Example:
    ```python
    path = synaprefect.utils.plot_program(program, to_folder="docs", show_schemas=True,
                                          show_module_names=True)
    ```
    """
    if kwargs:
        raise ValueError(f"plot_program() got unrecognized keyword arguments {sorted(kwargs)}.")
    draw = program_drawing(
        program,
        show_schemas=show_schemas,
        show_module_names=show_module_names,
        show_defs=show_defs,
        rankdir=rankdir,
        expand_nested=expand_nested,
        show_trainable=show_trainable,
    )
    return save_figure(draw(), to_file or f"{program.name}.png", to_folder, dpi)


def program_drawing(
    program: Any,
    show_schemas: bool = False,
    show_module_names: bool = False,
    show_defs: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    show_trainable: bool = False,
) -> Callable[[], Any]:
    """Read the program's graph now; the function returned draws that snapshot as a
    figure, in any thread, however the program changes meanwhile. Reading takes
    microseconds, drawing tens of milliseconds (text layout).

    Example: ``figure = await asyncio.to_thread(program_drawing(program))``
    """
    if not getattr(program, "built", False):
        raise ValueError(
            f"Program '{program.name}' is not built yet: build it (call it on "
            "data, or create it from Input()) before plotting it."
        )
    if rankdir not in _RANKDIRS:
        raise ValueError(f"`rankdir` must be one of {list(_RANKDIRS)}, got {rankdir!r}.")
    graph = program.get_graph() if hasattr(program, "get_graph") else None
    options = (show_module_names, show_schemas, show_defs, show_trainable)
    edges: list[tuple[int, int]]
    if graph is None:
        boxes, edges = [_box(program, [], [], *options)], []
    else:
        boxes, edges = _graph_boxes(graph, options, expand_nested, ())
    return functools.partial(_draw, boxes, edges, layer_depths(len(boxes), edges), rankdir)


def _graph_boxes(
    graph: Any, options: tuple, expand_nested: bool, clusters: tuple[str, ...]
) -> tuple[list["_Box"], list[tuple[int, int]]]:
    """Boxes in topological order and the edges between them; with ``expand_nested``, a
    nested program's own graph takes the place of its box, framed as a cluster."""
    boxes: list[_Box] = []
    edges: list[tuple[int, int]] = []
    entries: dict[int, list[int]] = {}  # graph node -> the boxes its parents feed
    exits: dict[int, list[int]] = {}  # graph node -> the boxes that feed its children
    for index, node in enumerate(graph.nodes):
        inner = (
            node.module.get_graph() if expand_nested and hasattr(node.module, "get_graph") else None
        )
        if inner is None:
            entries[index] = exits[index] = [len(boxes)]
            boxes.append(
                _box(
                    node.module,
                    [s.get_schema() for s in node.input_symbols],
                    [s.get_schema() for s in node.flat_outputs],
                    *options,
                )
            )
            boxes[-1].clusters = clusters
            continue
        inner_boxes, inner_edges = _graph_boxes(inner, options, True, (*clusters, node.module.name))
        offset = len(boxes)
        parents = {parent for parent, _ in inner_edges}
        entries[index] = [
            offset + i
            for i, depth in enumerate(layer_depths(len(inner_boxes), inner_edges))
            if depth == 0
        ]
        exits[index] = [offset + i for i in range(len(inner_boxes)) if i not in parents]
        boxes += inner_boxes
        edges += [(offset + a, offset + b) for a, b in inner_edges]
    edges += [
        (source, target)
        for parent, child in graph.edges()
        for source in exits[parent]
        for target in entries[child]
    ]
    return boxes, edges


def _box(
    module: Any,
    inputs: list[dict],
    outputs: list[dict],
    show_module_names: bool,
    show_schemas: bool,
    show_defs: bool,
    show_trainable: bool,
) -> _Box:
    kind = type(module).__name__
    box = _Box(f"{module.name} ({kind})" if show_module_names else kind)
    if show_schemas:
        for label, schemas in (("Input", inputs), ("Output", outputs)):
            for number, schema in enumerate(schemas, 1):
                box.body.append(f"{label} schema {number}:")
                box.body += _schema_lines(schema, show_defs)
    if show_trainable and getattr(module, "variables", None):
        box.trainable = bool(module.trainable)
    return box


def _schema_lines(schema: dict, show_defs: bool) -> list[str]:
    shown = schema if show_defs else {k: v for k, v in schema.items() if k != "$defs"}
    lines = json.dumps(shown, indent=1, ensure_ascii=False).splitlines()
    return [line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..." for line in lines]


def _draw(boxes: list[_Box], edges: list[tuple[int, int]], depths: list[int], rankdir: str):
    figure, _ = new_figure(axes=False)
    inches = figure.dpi_scale_trans
    renderer = figure.canvas.get_renderer()
    for box in boxes:
        _measure(figure, box, renderer, inches)
    flows_down = rankdir in ("TB", "BT")
    # Abstract coordinates: p along the flow (layer after layer), s across a layer.
    along = [b.height if flows_down else b.width for b in boxes]
    across = [b.width if flows_down else b.height for b in boxes]
    depth = list(depths)
    # An edge over several layers passes through a slot of its own in each layer between
    # (a point with no size), so it runs beside the boxes rather than through them.
    routes = []
    for parent, child in edges:
        route = [parent]
        for between in range(depths[parent] + 1, depths[child]):
            along.append(0.0)
            across.append(_ROUTE_WIDTH)
            depth.append(between)
            route.append(len(along) - 1)
        routes.append([*route, child])
    center_p, center_s, thickness = layered_layout(along, across, depth, routes)
    total_p = sum(thickness) + LAYER_GAP * (len(thickness) - 1)
    half_s = max(abs(c) + a / 2 for c, a in zip(center_s, across))

    def place(p_value: float, s_value: float) -> tuple[float, float]:
        p_value = total_p - p_value if rankdir in ("BT", "RL") else p_value
        s_value += half_s
        x, y = (s_value, total_p - p_value) if flows_down else (p_value, 2 * half_s - s_value)
        return x + _MARGIN, y + _MARGIN

    width, height = (2 * half_s, total_p) if flows_down else (total_p, 2 * half_s)
    figure.set_size_inches(width + 2 * _MARGIN, height + 2 * _MARGIN)
    for index, box in enumerate(boxes):
        box.center = place(center_p[index], center_s[index])
        _place_box(figure, box, *box.center, inches)
    _frame_clusters(figure, boxes, inches)
    for route in routes:
        first, last = route[0], route[-1]
        points = [place(center_p[first] + along[first] / 2, center_s[first])]
        for slot in route[1:-1]:
            half = thickness[depth[slot]] / 2
            points += [
                place(center_p[slot] - half, center_s[slot]),
                place(center_p[slot] + half, center_s[slot]),
            ]
        points.append(place(center_p[last] - along[last] / 2, center_s[last]))
        _arrow(figure, points, inches)
    return figure


def _measure(figure, box: _Box, renderer, inches) -> None:
    """Create the box's texts and size the box around them (in inches)."""
    texts = [
        (
            figure.text(
                0,
                0,
                box.title,
                color="white",
                fontsize=11,
                fontweight="bold",
                ha="center",
                va="center",
                transform=inches,
            ),
            _HEADER,
        )
    ]
    if box.body:
        # parse_math off: schemas hold "$ref"/"$defs", which matplotlib reads as TeX.
        texts.append(
            (
                figure.text(
                    0,
                    0,
                    "\n".join(box.body),
                    color="black",
                    fontsize=7,
                    family="monospace",
                    ha="center",
                    va="center",
                    multialignment="left",
                    transform=inches,
                    parse_math=False,
                ),
                "white",
            )
        )
    if box.trainable is not None:
        label, color = _TRAINABLE[box.trainable]
        texts.append(
            (
                figure.text(
                    0,
                    0,
                    label,
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                    ha="center",
                    va="center",
                    transform=inches,
                ),
                color,
            )
        )
    for text, color in texts:
        extent = text.get_window_extent(renderer)
        box.parts.append((text, color, extent.height / figure.dpi + 2 * _PAD))
        box.width = max(box.width, extent.width / figure.dpi + 2 * _PAD)
    box.width = max(box.width, 1.0)
    box.height = sum(height for _, _, height in box.parts)


def _place_box(figure, box: _Box, x: float, y: float, inches) -> None:
    """Draw the box's bands top to bottom around its centre ``(x, y)``."""
    from matplotlib.patches import Rectangle

    top = y + box.height / 2
    for text, color, height in box.parts:
        figure.add_artist(
            Rectangle(
                (x - box.width / 2, top - height),
                box.width,
                height,
                facecolor=color,
                edgecolor="black",
                linewidth=1.0,
                transform=inches,
                zorder=1,
            )
        )
        text.set_position((x, top - height / 2))
        text.set_zorder(2)
        top -= height


def _frame_clusters(figure, boxes: list[_Box], inches) -> None:
    """A dashed frame, named after the nested program, around the boxes of each one."""
    from matplotlib.patches import Rectangle

    paths = {box.clusters[:n] for box in boxes for n in range(1, len(box.clusters) + 1)}
    for path in sorted(paths, key=len):
        inside = [box for box in boxes if box.clusters[: len(path)] == path]
        margin = 0.12 * (1 + max(len(b.clusters) for b in inside) - len(path))
        left = min(b.center[0] - b.width / 2 for b in inside) - margin
        right = max(b.center[0] + b.width / 2 for b in inside) + margin
        bottom = min(b.center[1] - b.height / 2 for b in inside) - margin
        top = max(b.center[1] + b.height / 2 for b in inside) + margin
        figure.add_artist(
            Rectangle(
                (left, bottom),
                right - left,
                top - bottom,
                fill=False,
                linestyle="--",
                edgecolor="#555555",
                transform=inches,
                zorder=0,
            )
        )
        figure.text(
            left, top + 0.03, path[-1], fontsize=9, style="italic", transform=inches, va="bottom"
        )


def _arrow(figure, points: list[tuple[float, float]], inches) -> None:
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    figure.add_artist(
        FancyArrowPatch(
            path=Path(points),
            arrowstyle="-|>",
            mutation_scale=14,
            linewidth=1.4,
            color="#333333",
            transform=inches,
            zorder=0,
        )
    )
