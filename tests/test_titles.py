"""Where a frame's title goes (nnviz.layout.titles): the first spot along the frame's top
that no edge crosses; the bisection search and its numpy form (big drawings) agree."""

from __future__ import annotations

import random

from nnviz.layout import titles
from nnviz.layout.model import EdgePath, GroupFrame
from nnviz.layout.titles import title_boxes


def _scene(seed: int) -> tuple[list[GroupFrame], list[EdgePath]]:
    rng = random.Random(seed)
    frames = []
    for i in range(60):
        x, y = rng.choice([0.0, 40.0, 300.5]), i * 37.25 + rng.choice([0.0, 0.125])
        lines = ["a long title", "broken in two"] if i % 7 == 0 else []
        frames.append(GroupFrame(path=(f"g{i}",), label="" if i % 11 == 5 else f"block.{i}",
                                 x=x, y=y, w=rng.choice([40.0, 200.0, 420.0]), h=300.0,
                                 lines=lines))
    edges = []
    for j in range(400):
        pts = [(rng.uniform(-20, 700), rng.uniform(-20, 2300))]
        for _ in range(rng.choice([1, 1, 2, 3])):
            last = pts[-1]
            pts.append((last[0] + rng.choice([0.0, rng.uniform(-60, 60)]),
                        last[1] + rng.uniform(-5, 80)))
        edges.append(EdgePath(src=f"a{j}", dst=f"b{j}", tensor="t", points=pts,
                              spline=len(pts) == 4))
    return frames, edges


def test_title_avoids_an_edge_through_its_usual_spot() -> None:
    frame = GroupFrame(path=("enc",), label="encoder", x=0.0, y=0.0, w=300.0, h=200.0)
    edge = EdgePath(src="a", dst="b", tensor="t", points=[(12.0, -30.0), (12.0, 40.0)])
    (x, _, w, _), = title_boxes([frame], [edge], 10.0)
    assert x >= 12.0 + 3 and x + w <= 300.0 - 6 + 4
    (x, _, _, _), = title_boxes([frame], [], 10.0)
    assert x == 6.0


def test_bulk_search_places_titles_as_the_bisection_does(monkeypatch) -> None:
    moved = 0
    for seed in range(6):
        frames, edges = _scene(seed)
        monkeypatch.setattr(titles, "_BULK_SEGMENTS", 1 << 40)
        one_by_one = title_boxes(frames, edges, 10.0)
        monkeypatch.setattr(titles, "_BULK_SEGMENTS", 0)
        assert title_boxes(frames, edges, 10.0) == one_by_one
        moved += sum(fr.label != "" and x != fr.x + 6 for fr, (x, *_) in zip(frames, one_by_one))
    assert moved > 10  # the scenes do push titles aside
