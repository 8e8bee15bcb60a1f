"""The state machine graph: layered layout and escaped SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from montemap.console.graph import layout_machine, render_svg
from tests.console.helpers import HOSTILE, SMALL_JOB, hostile_job

SVG = "{http://www.w3.org/2000/svg}"


def _states(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {
        g.get("data-state", ""): g
        for g in root.iter(f"{SVG}g")
        if g.get("class", "").startswith("state")
    }


def _edges(svg: str) -> Counter[str]:
    """How many edges of each kind (``edge-next``, ``edge-catch``...) are drawn."""
    kinds: Counter[str] = Counter()
    for path in ET.fromstring(svg).iter(f"{SVG}path"):
        classes = path.get("class", "").split()
        if "edge" in classes:
            kinds.update(c for c in classes if c != "edge")
    return kinds


def test_states_are_ranked_top_down_in_order() -> None:
    layout = layout_machine(SMALL_JOB)
    ys = [layout.nodes[name].y for name in ("Prepare", "Pause", "Inline", "Distributed")]
    assert ys == sorted(ys) and len(set(ys)) == 4
    assert layout.nodes["\x00start"].y < ys[0] < layout.nodes["\x00end"].y


def test_maps_are_boxes_holding_their_processor() -> None:
    layout = layout_machine(SMALL_JOB)
    inline = layout.nodes["Inline"]
    assert len(inline.inner) == 1 and "Double" in inline.inner[0].nodes
    assert inline.height > layout.nodes["Prepare"].height
    svg = str(render_svg(SMALL_JOB))
    states = _states(svg)
    assert set(states) == {"Prepare", "Pause", "Inline", "Double", "Distributed", "Work"}
    assert "compound" in states["Distributed"].get("class", "")
    assert "Distributed Map" in svg


def test_parallel_branches_side_by_side_and_loops_drawn_as_back_edges() -> None:
    machine = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Both"}],
                "Default": "Done",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}},
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "Next": "Check",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    layout = layout_machine(machine)
    assert ("Both", "Check") in layout.back
    a, b = layout.nodes["Both"].inner
    assert a.width > 0 and b.width > 0
    svg = str(render_svg(machine))
    assert set(_states(svg)) == {"Check", "Both", "A", "B", "Done"}
    # Start->Check, Both->Check (the loop) and Done->End; one edge per Choice rule,
    # the Default and the Catch
    assert _edges(svg) == {"edge-next": 3, "edge-choice": 1, "edge-default": 1, "edge-catch": 1}


def test_hostile_names_are_escaped() -> None:
    svg = str(render_svg(hostile_job()))
    assert "<script>" not in svg and "<img" not in svg
    assert _states(svg).keys() == {HOSTILE, "Boom"}


def test_odd_definitions_still_render() -> None:
    machines: list[dict[str, Any]] = [
        {},
        {"States": []},
        {"StartAt": "X", "States": {"Y": "not a state"}},
    ]
    for machine in machines:
        svg = str(render_svg(machine))
        assert _states(svg) == {}  # nothing to draw but the Start and End markers
        assert _edges(svg) == {}
        root = ET.fromstring(svg)
        markers = [g for g in root.iter(f"{SVG}g") if g.get("class") == "marker"]
        assert ["".join(g.itertext()) for g in markers] == ["Start", "End"]
