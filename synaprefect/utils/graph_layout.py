"""Layered layout of a directed acyclic graph, in abstract coordinates (no drawing).

Nodes go in layers by depth (``layer_depths``); ``layered_layout`` places the layers one
after another along an axis ``p`` and, inside a layer, orders items by where the items
feeding them stand (their barycentre), which keeps edges short and rarely crossing.
``plot_program`` turns the coordinates into a figure.

Example:
```python
depths = layer_depths(3, [(0, 1), (0, 2)])            # [0, 1, 1]
center_p, center_s, thickness = layered_layout(
    along=[0.5, 0.5, 0.5], across=[1.0, 1.0, 1.0], depth=depths, routes=[[0, 1], [0, 2]]
)
```
"""

__all__ = ["LAYER_GAP", "SIBLING_GAP", "layer_depths", "layered_layout"]

LAYER_GAP = 0.55  # inches between layers
SIBLING_GAP = 0.35  # inches between boxes of a layer


def layer_depths(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """The layer of each node of a DAG whose nodes are numbered in topological order:
    0 for the roots, else one after its deepest parent."""
    depth = [0] * count
    for parent, child in sorted(edges, key=lambda edge: edge[1]):  # nodes are topological
        depth[child] = max(depth[child], depth[parent] + 1)
    return depth


def layered_layout(
    along: list[float], across: list[float], depth: list[int], routes: list[list[int]]
) -> tuple[list[float], list[float], list[float]]:
    """Centres ``(p, s)`` of every box and slot, and the thickness of each layer: layers
    follow each other along p; in a layer, items are centred on s = 0 and ordered by
    where the items feeding them stand (barycentre), to keep edges short and uncrossed."""
    parents: dict[int, list[int]] = {}
    for route in routes:
        for parent, child in zip(route, route[1:]):
            parents.setdefault(child, []).append(parent)
    layers: dict[int, list[int]] = {}
    for index, layer in enumerate(depth):
        layers.setdefault(layer, []).append(index)
    center_p, center_s = [0.0] * len(along), [0.0] * len(along)
    thickness: list[float] = []
    p = 0.0
    for layer in sorted(layers):
        members = sorted(
            layers[layer],
            key=lambda i: (
                sum(center_s[q] for q in parents.get(i, [])) / max(1, len(parents.get(i, []))),
                i,
            ),
        )
        thickness.append(max(along[i] for i in members))
        s = -(sum(across[i] for i in members) + SIBLING_GAP * (len(members) - 1)) / 2
        for i in members:
            center_p[i], center_s[i] = p + thickness[-1] / 2, s + across[i] / 2
            s += across[i] + SIBLING_GAP
        p += thickness[-1] + LAYER_GAP
    return center_p, center_s, thickness
