"""The layered layout behind ``plot_program``."""

from synaprefect.utils.graph_layout import LAYER_GAP, layer_depths, layered_layout


def test_a_node_comes_one_layer_after_its_deepest_parent():
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (3, 4)]
    assert layer_depths(5, edges) == [0, 1, 1, 2, 3]


def test_children_follow_the_order_of_their_parents_so_edges_do_not_cross():
    # Parents 0 and 1 in the first layer; 2 is fed by 1, and 3 by 0.
    routes = [[1, 2], [0, 3]]
    depths = layer_depths(4, [(1, 2), (0, 3)])
    center_p, center_s, thickness = layered_layout([0.5, 0.5, 0.3, 0.3], [1.0] * 4, depths, routes)
    assert center_s[0] < center_s[1] and center_s[3] < center_s[2]
    assert thickness == [0.5, 0.3]
    assert center_p[2] == center_p[3] == 0.5 + LAYER_GAP + 0.15
    assert sum(center_s[:2]) == 0.0  # a layer is centred
