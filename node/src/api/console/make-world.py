"""Makes world.json, the console's map: country outlines from Natural Earth's 1:110m
Admin 0 boundaries (public domain), as redistributed in TopoJSON by the npm package
world-atlas 2.0.2 (ISC licence), projected equirectangularly to SVG paths in a
360 x 180 box (x = longitude + 180, y = 90 - latitude; the view stops at 60 degrees
south), with each country's ISO 3166-1
alpha-2 code (from ISO numeric, by pycountry) and the centroid of its largest part.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    pip install pycountry
    python3 make-world.py package/countries-110m.json > world.json
"""

import json
import sys

import pycountry

# Natural Earth features without an ISO numeric code.
BY_NAME = {"Kosovo": "XK", "N. Cyprus": None, "Somaliland": None}


def decode_arcs(topology):
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    points = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return [(round(lon + 180, 1), round(90 - lat, 1)) for lon, lat in points]


def svg_path(points):
    """A closed ring as SVG path data; a ring that crosses the antimeridian (Russia,
    Fiji) is cut where it jumps across the map instead of drawing a line across it."""
    out, previous = [], None
    for x, y in points:
        jump = previous is not None and abs(x - previous[0]) > 180
        out.append(("M" if previous is None or jump else "L") + f"{x:g} {y:g}")
        previous = (x, y)
    crossed = any(part.startswith("M") for part in out[1:])
    return "".join(out) + ("" if crossed else "Z")


def area_and_centroid(points):
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area) < 1e-9:
        return 0.0, points[0]
    return abs(area) / 2, (round(cx / (3 * area), 1), round(cy / (3 * area), 1))


def main():
    topology = json.load(open(sys.argv[1], encoding="utf-8"))
    arcs = decode_arcs(topology)
    countries = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry["properties"]["name"]
        if name in BY_NAME:
            code = BY_NAME[name]
        else:
            found = pycountry.countries.get(numeric=geometry.get("id", ""))
            code = found.alpha_2 if found else None
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        path, best = [], (0.0, None)
        for polygon in polygons:
            for i, indexes in enumerate(polygon):
                points = ring(arcs, indexes)
                deduped = [p for j, p in enumerate(points) if j == 0 or p != points[j - 1]]
                if len(deduped) < 3:
                    continue
                path.append(svg_path(deduped))
                if i == 0:
                    area, centroid = area_and_centroid(deduped)
                    if area > best[0]:
                        best = (area, centroid)
        countries.append({"code": code, "name": name, "d": "".join(path), "c": best[1]})
    countries.sort(key=lambda c: (c["code"] or "~", c["name"]))
    json.dump(
        {
            "source": "Natural Earth 1:110m Admin 0 countries (public domain), via world-atlas 2.0.2 (ISC)",
            # Antarctica (south of 60 degrees) left out of the view.
            "viewBox": [0, 0, 360, 150],
            "countries": countries,
        },
        sys.stdout,
        separators=(",", ":"),
    )


main()
