"""The state machine graph as SVG: a layered, top-down layout drawn server-side.

Each (sub) state machine is laid out on its own: states are ranked by the
longest path from ``StartAt`` (back edges, found by a depth-first walk, are
drawn on the right and do not count), each rank is a centred row. A Map is a
box holding its ItemProcessor; a Parallel is a box holding its branches side
by side. Every state is a ``<g class="state" data-state="NAME">`` so the
page's script can colour it; every name is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

NODE_H = 36
MIN_W = 110
MAX_W = 280
CHAR_W = 7.2
GAP_X = 26
GAP_Y = 34
PAD = 12
HEADER = 26
TERMINAL = 30  # diameter of the Start and End markers


@dataclass
class Node:
    """One state (or the Start/End marker), sized, and placed by its parent layout."""

    name: str
    type: str
    width: float
    height: float
    inner: list[Layout] = field(default_factory=list)
    label: str = ""
    map_label: str = ""  # a Distributed Map's Map Run label (its Label, else its name)
    x: float = 0.0
    y: float = 0.0


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next | choice | default | catch


@dataclass
class Layout:
    """A laid-out (sub) state machine: nodes with positions relative to its origin."""

    nodes: dict[str, Node]
    edges: list[Edge]
    width: float
    height: float
    back: set[tuple[str, str]] = field(default_factory=set)


def _text_width(text: str) -> float:
    return min(MAX_W, max(MIN_W, len(text) * CHAR_W + 28))


def _targets(state: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], "next"))
    for choice in state.get("Choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            out.append((choice["Next"], "choice"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "default"))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append((catcher["Next"], "catch"))
    return out


def _is_end(state: dict[str, Any]) -> bool:
    return bool(state.get("End")) or state.get("Type") in ("Succeed", "Fail")


def _processor(state: dict[str, Any]) -> dict[str, Any] | None:
    proc = state.get("ItemProcessor") or state.get("Iterator")
    return proc if isinstance(proc, dict) else None


def _node(name: str, state: dict[str, Any]) -> Node:
    kind = str(state.get("Type", "?"))
    inner: list[Layout] = []
    label = map_label = ""
    if kind == "Map" and (proc := _processor(state)) is not None:
        inner = [layout_machine(proc, markers=False)]
        mode = (proc.get("ProcessorConfig") or {}).get("Mode", "INLINE")
        label = "Distributed Map" if mode == "DISTRIBUTED" else "Map"
        if mode == "DISTRIBUTED":
            map_label = str(state.get("Label") or name)
    elif kind == "Parallel":
        inner = [
            layout_machine(b, markers=False)
            for b in state.get("Branches") or []
            if isinstance(b, dict)
        ]
        label = "Parallel"
    width = _text_width(name)
    height: float = NODE_H
    if inner:
        header = len(name) * CHAR_W + len(label) * 6 + 3 * PAD
        width = max(header, sum(b.width for b in inner) + GAP_X * (len(inner) - 1) + 2 * PAD)
        height = HEADER + max(b.height for b in inner) + 2 * PAD + 8
    return Node(name, kind, width, height, inner, label, map_label)


def _ranks(start: str, succ: dict[str, list[str]]) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Longest-path ranks from ``start`` and the back edges that were ignored."""
    back: set[tuple[str, str]] = set()
    order: list[str] = []
    state: dict[str, int] = {}  # 1 on stack, 2 done

    def walk(root: str) -> None:
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack.pop()
            nexts = succ.get(node, [])
            if i < len(nexts):
                stack.append((node, i + 1))
                child = nexts[i]
                if state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, 0))
            else:
                state[node] = 2
                order.append(node)

    if start in succ:
        walk(start)
    for name in succ:
        if name not in state:
            walk(name)
    rank = {name: 0 for name in succ}
    for node in reversed(order):  # topological order of the forward edges
        for child in succ.get(node, []):
            if (node, child) not in back and child in rank:
                rank[child] = max(rank[child], rank[node] + 1)
    return rank, back


def layout_machine(machine: dict[str, Any], *, markers: bool = True) -> Layout:
    """Lay out ``{"StartAt", "States"}``; ``markers`` adds the Start and End circles."""
    states = machine.get("States")
    states = states if isinstance(states, dict) else {}
    start = machine.get("StartAt") if isinstance(machine.get("StartAt"), str) else ""
    nodes: dict[str, Node] = {
        name: _node(name, s) for name, s in states.items() if isinstance(s, dict)
    }
    edges: list[Edge] = []
    for name, s in states.items():
        if isinstance(s, dict):
            edges += [Edge(name, t, kind) for t, kind in _targets(s) if t in nodes]
    if markers:
        nodes["\x00start"] = Node("Start", "Start", TERMINAL, TERMINAL)
        nodes["\x00end"] = Node("End", "End", TERMINAL, TERMINAL)
        if start in nodes:
            edges.insert(0, Edge("\x00start", str(start), "next"))
        edges += [
            Edge(name, "\x00end", "next")
            for name, s in states.items()
            if isinstance(s, dict) and _is_end(s)
        ]
        start = "\x00start"
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for e in edges:
        if e.target not in succ[e.source]:
            succ[e.source].append(e.target)
    rank, back = _ranks(str(start), succ)
    if markers:
        rank["\x00end"] = max(r for n, r in rank.items() if n != "\x00end") + 1
    rows: dict[int, list[str]] = {}
    for name in nodes:  # definition order within a row
        rows.setdefault(rank[name], []).append(name)
    row_w = {r: sum(nodes[n].width for n in ns) + GAP_X * (len(ns) - 1) for r, ns in rows.items()}
    width = max(row_w.values(), default=MIN_W) + (2 * GAP_X if back else 0)
    y = 0.0
    for r in sorted(rows):
        names = rows[r]
        x = (width - (2 * GAP_X if back else 0) - row_w[r]) / 2
        height = max(nodes[n].height for n in names)
        for n in names:
            node = nodes[n]
            node.x, node.y = x, y + (height - node.height) / 2
            x += node.width + GAP_X
        y += height + GAP_Y
    return Layout(nodes, edges, width, max(y - GAP_Y, NODE_H), back)


# ---------------------------------------------------------------------- SVG


def _edge_path(layout: Layout, edge: Edge, ox: float, oy: float) -> str:
    a, b = layout.nodes[edge.source], layout.nodes[edge.target]
    if (edge.source, edge.target) in layout.back or b.y <= a.y:
        x1, y1 = ox + a.x + a.width, oy + a.y + a.height / 2
        x2, y2 = ox + b.x + b.width, oy + b.y + b.height / 2
        xr = ox + layout.width - GAP_X / 2
        return f"M{x1:.1f},{y1:.1f} L{xr:.1f},{y1:.1f} L{xr:.1f},{y2:.1f} L{x2:.1f},{y2:.1f}"
    x1, y1 = ox + a.x + a.width / 2, oy + a.y + a.height
    x2, y2 = ox + b.x + b.width / 2, oy + b.y
    mid = (y2 - y1) / 2
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + mid:.1f} {x2:.1f},{y2 - mid:.1f} {x2:.1f},{y2:.1f}"


def _svg_layout(layout: Layout, ox: float, oy: float, out: list[str]) -> None:
    for edge in layout.edges:
        out.append(
            f'<path class="edge edge-{edge.kind}" d="{_edge_path(layout, edge, ox, oy)}"'
            ' marker-end="url(#arrow)"/>'
        )
    for key, node in layout.nodes.items():
        x, y = ox + node.x, oy + node.y
        if key.startswith("\x00"):
            r = node.width / 2
            out.append(
                f'<g class="marker"><circle cx="{x + r:.1f}" cy="{y + r:.1f}" r="{r:.1f}"/>'
                f'<text x="{x + r:.1f}" y="{y + r + 4:.1f}">{escape(node.name)}</text></g>'
            )
            continue
        name = escape(node.name)
        compound = " compound" if node.inner else ""
        run = f' data-map-run="{escape(node.map_label)}"' if node.map_label else ""
        out.append(
            f'<g class="state{compound}" data-state="{name}" data-type="{escape(node.type)}"{run}>'
            f"<title>{name} ({escape(node.type)})</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.width:.1f}" height="{node.height:.1f}"'
            ' rx="6"/>'
        )
        if node.inner:
            out.append(
                f'<text class="name start" x="{x + PAD:.1f}" y="{y + 17:.1f}">{name}</text>'
                f'<text class="kind end" x="{x + node.width - PAD:.1f}" y="{y + 17:.1f}">'
                f"{escape(node.label)}</text>"
                f'<text class="count" x="{x + node.width / 2:.1f}" y="{y + node.height - 4:.1f}">'
                "</text></g>"
            )
            inner_w = sum(b.width for b in node.inner) + GAP_X * (len(node.inner) - 1)
            bx = x + (node.width - inner_w) / 2
            for branch in node.inner:
                by = y + HEADER + PAD
                out.append(
                    f'<rect class="branch" x="{bx - 4:.1f}" y="{by - 4:.1f}"'
                    f' width="{branch.width + 8:.1f}" height="{branch.height + 8:.1f}" rx="4"/>'
                )
                _svg_layout(branch, bx, by, out)
                bx += branch.width + GAP_X
        else:
            label = node.name if len(node.name) * CHAR_W + 28 <= MAX_W else node.name[:33] + "…"
            out.append(
                f'<text class="name" x="{x + node.width / 2:.1f}" y="{y + 16:.1f}">'
                f"{escape(label)}</text>"
                f'<text class="count" x="{x + node.width / 2:.1f}" y="{y + 29:.1f}"></text></g>'
            )


def render_svg(definition: dict[str, Any]) -> Markup:
    """The definition's graph as an inline ``<svg>`` element (safe to embed)."""
    layout = layout_machine(definition)
    margin = 10
    out = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-label="state machine graph"'
        f' viewBox="0 0 {layout.width + 2 * margin:.0f} {layout.height + 2 * margin:.0f}"'
        f' width="{layout.width + 2 * margin:.0f}" height="{layout.height + 2 * margin:.0f}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        "</defs>"
    ]
    _svg_layout(layout, margin, margin, out)
    out.append("</svg>")
    return Markup("".join(out))
