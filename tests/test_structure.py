"""Structure from names (nnviz.passes.structure): flat Keras applications get groups from
their layer names, fold and collapse like scoped models, and names that do not agree make
no groups."""

from __future__ import annotations

import os

import pytest
from test_passes import Builder

import nnviz
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.passes.structure import infer_structure_inplace

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first keras import


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    keras = pytest.importorskip("keras", reason="building the applications needs keras")
    out = {}
    folder = tmp_path_factory.mktemp("apps")
    for name, exts in (("ResNet50", ("keras",)), ("DenseNet121", ("h5",)),
                       ("MobileNetV2", ("h5",))):
        model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3),
                                                  classes=10)
        for ext in exts:
            path = folder / f"{name}.{ext}"
            model.save(path)
            out[(name, ext)] = (path, model.count_params())
    return out


def test_resnet50_blocks_from_names_fold_and_keep_residuals(apps):
    path, count = apps[("ResNet50", "keras")]
    g = nnviz.load(path)
    a = annotate(g)
    assert a.total_params == count
    # conv2 > conv2_block1 > conv2_block1_1 (conv, bn, relu)
    node = next(n for n in a.nodes.values() if n.name == "conv2_block1_1_conv")
    assert node.group == ("conv2", "conv2_block1", "conv2_block1_1")
    assert a.groups[("conv2",)].attrs["params"] == sum(
        n.param_count for n in g.nodes.values() if n.name.startswith("conv2_"))
    view = prepare(g)
    assert len(view.nodes) <= 72 and view.total_params == count
    folds = {grp.attrs["fold_label"] for grp in view.groups.values() if grp.attrs.get("repeat")}
    assert "conv2_block2 \u2026 conv2_block3" in folds, folds
    assert "conv4_block2 \u2026 conv4_block6" in folds, folds
    assert sum(n.op == "Add" for n in view.nodes.values()) >= 8  # residuals stay visible
    d1 = prepare(g, ViewOptions(depth=1))
    assert {n.name for n in d1.nodes.values() if n.kind == "group"} >= \
        {"conv2", "conv3", "conv4", "conv5"}


def test_densenet121_h5_is_no_longer_a_wall_of_ops(apps):
    path, count = apps[("DenseNet121", "h5")]
    g = nnviz.load(path)
    view = prepare(g)
    assert view.total_params == count
    assert len(view.nodes) <= 72  # was 430 boxes, op by op (224 x 41,675 px)
    blocks = [n for n in view.nodes.values() if n.kind == "group"
              and n.name.startswith("conv4/conv4_block")]
    assert len(blocks) == 24


def test_mobilenetv2_blocks_and_their_layers(apps):
    path, count = apps[("MobileNetV2", "h5")]
    a = annotate(nnviz.load(path))
    assert a.total_params == count
    tops = sorted({n.group[0] for n in a.nodes.values() if n.group})
    assert "block_1" in tops and "expanded_conv" in tops and "block" not in tops
    expand = next(n for n in a.nodes.values() if n.name == "block_2_expand")
    assert expand.group == ("block_2", "block_2_expand")  # with its BN and ReLU


def test_names_that_do_not_agree_make_no_groups():
    b = Builder(framework="keras")
    x = b.input((1, 8))
    # Op counters (conv2d_3, conv2d_4) and parallel twins (batch_normalization_*) share
    # prefixes but are no block: not a role left behind, or not connected to each other.
    for i in range(30):
        a = b.op("Conv2D", "conv", [x], name=f"conv2d_{i}")
        c = b.op("BatchNormalization", "norm", [a], name=f"batch_normalization_{i}")
        x = b.op("Add", "elementwise", [c, x], name=f"add_{i}")
    b.output(x)
    g = infer_structure_inplace(b.g)
    assert not g.groups and all(not n.group for n in g.nodes.values())
    # The same graph named by blocks gets them.
    b = Builder(framework="keras")
    x = b.input((1, 8))
    for i in range(30):
        a = b.op("Conv2D", "conv", [x], name=f"stage_0_block_{i}_conv")
        c = b.op("BatchNormalization", "norm", [a], name=f"stage_0_block_{i}_bn")
        x = b.op("Add", "elementwise", [c, x], name=f"stage_0_block_{i}_add")
    b.output(b.op("Dense", "linear", [x], name="head"))
    g = infer_structure_inplace(b.g)
    assert g.nodes[next(iter(n for n in g.nodes if g.nodes[n].op == "Add"))].group == \
        ("stage_0", "stage_0_block_0")
    assert g.meta["structure_from_names"] == 31  # stage_0 + 30 blocks
