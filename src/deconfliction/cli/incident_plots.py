"""The incident package's pictures (matplotlib, no display): a timeline and a map.

``timeline.png``: one row per alert (a bar from raised to cleared, coloured by kind) and per
hotline message (sent, delivered, replied, escalated), track batches on the bottom row.
``map.png``: the operations (blue) and constraints (red, hatched) in force, the positions the
alerts recorded for each aircraft (a trail per aircraft), and the area asked for (dashed).
Coordinates are WGS84 lon/lat; the map's aspect keeps a degree of latitude and of longitude at
their true ratio at its centre.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyproj import Geod

_GEOD = Geod(ellps="WGS84")
_KIND_COLOURS = {"conflict": "tab:orange", "loss_of_separation": "tab:red",
                 "constraint_incursion": "tab:purple", "nonconformance": "tab:brown"}
_URGENCY_COLOURS = {"distress": "tab:red", "urgent": "tab:orange", "routine": "tab:blue"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:  # the optional extra: pip install 'deconfliction[incident]'
        raise RuntimeError("the incident package's charts need matplotlib: "
                           "pip install 'deconfliction[incident]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _ring(footprint: dict[str, Any]) -> tuple[list[float], list[float]]:
    """A footprint's outline in lon/lat (a circle as 72 geodesic points)."""
    if footprint["type"] == "Circle":
        lon, lat = footprint["center"]
        azimuths = [5.0 * i for i in range(73)]
        lons, lats, _ = _GEOD.fwd([lon] * 73, [lat] * 73, azimuths,
                                  [footprint["radius_m"]] * 73)
        return list(lons), list(lats)
    exterior = footprint["coordinates"][0]
    return [p[0] for p in exterior], [p[1] for p in exterior]


def timeline(incident: dict[str, Any], out: Path) -> None:
    """Write the timeline chart of an incident (``Incident.to_json()``) to ``out``."""
    plt = _pyplot()
    start, end = _when(incident["from"]), _when(incident["to"])
    alerts: dict[str, dict[str, Any]] = {}
    for a in incident["alerts"]:
        held = alerts.setdefault(a["id"], {"kind": a["kind"], "first": _when(a["time"]),
                                           "cleared": None, "key": a["key"]})
        if a["transition"] == "alert.cleared":
            held["cleared"] = _when(a["time"])
    rows = len(alerts) + len(incident["messages"]) + 1
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.45 * rows + 1.5)))
    labels = []
    y = 0
    for a in alerts.values():
        stop = a["cleared"] or end
        ax.barh(y, (stop - a["first"]).total_seconds() / 86400, left=a["first"], height=0.6,
                color=_KIND_COLOURS.get(a["kind"], "tab:gray"))
        labels.append(f"{a['kind']} {' '.join(a['key'][1:])[:40]}")
        y += 1
    traffic = defaultdict(list)
    for t in incident["traffic"]:
        traffic[t["message_id"]].append(t)
    for m in incident["messages"]:
        colour = _URGENCY_COLOURS.get(m["urgency"], "tab:blue")
        ax.plot([_when(m["time"])], [y], "o", color=colour)
        for t in traffic[m["id"]]:
            style = {"message.delivered": ("|", "tab:gray"), "message.replied": ("D", "tab:green"),
                     "message.escalated": ("x", "tab:red")}[t["kind"]]
            ax.plot([_when(t["time"])], [y], style[0], color=style[1])
        labels.append(f"{m['from']}→{m['to']} ({m['urgency']}): {m['subject']}"[:50])
        y += 1
    for batch in incident["tracks"]:
        ax.plot([_when(batch["time"])], [y], "|", color="tab:gray")
    labels.append("track batches")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(start, end)
    ax.set_xlabel("UTC")
    ax.set_title(f"incident {incident['from']} – {incident['to']}: alerts (bars), hotline "
                 "(o sent, | delivered, ◆ replied, × escalated)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def situation_map(incident: dict[str, Any], out: Path) -> None:
    """Write the map of an incident (``Incident.to_json()``) to ``out``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 9))
    lats: list[float] = []
    for record, colour, hatch in (
            *((o, "tab:blue", None) for o in incident["operations"]),
            *((c, "tab:red", "//") for c in incident["constraints"])):
        for v in record["volumes"]:
            lon, lat = _ring(v["footprint"])
            ax.fill(lon, lat, facecolor=colour, alpha=0.15, edgecolor=colour, hatch=hatch)
            lats += lat
        name = record.get("name") or ", ".join(record.get("callsigns", [])) or record["id"][:8]
        ax.annotate(f"{record.get('owner') or record.get('authority')}: {name}", (lon[0], lat[0]),
                    fontsize=7, color=colour)
    trails: dict[str, list[tuple[datetime, float, float]]] = defaultdict(list)
    for a in incident["alerts"]:
        for aircraft in a.get("details", {}).get("aircraft", []):
            s = aircraft.get("state") or {}
            if "lon" in s and "lat" in s:
                # a party's package shows another party's aircraft without its identity
                who = aircraft.get("aircraft_id") or f"traffic in {str(a.get('id', ''))[:8]}"
                trails[who].append((_when(s["time"]), s["lon"], s["lat"]))
    for aircraft_id, points in trails.items():
        points.sort()
        ax.plot([p[1] for p in points], [p[2] for p in points], "-o", markersize=3)
        ax.annotate(aircraft_id, (points[-1][1], points[-1][2]), fontsize=7)
        lats += [p[2] for p in points]
    if incident.get("area"):
        area = incident["area"].get("geometry", incident["area"])
        lon, lat = _ring(area)
        ax.plot(lon, lat, "k--", linewidth=1)
        lats += lat
    if lats:
        ax.set_aspect(1 / max(0.1, math.cos(math.radians(sum(lats) / len(lats)))))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title(f"incident {incident['from']} – {incident['to']}: operations (blue), "
                 "constraints (red), aircraft positions recorded by alerts", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
