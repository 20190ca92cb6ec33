"""The field's own tools on what a node exports: the OASIS STIX 2.1 validator, the
OASIS TAXII 2.1 client and PyMISP (with the MISP event schema it ships). Prints one
JSON document for the Rust tests to read.

    check.py stix FILE                        validate a STIX 2.1 bundle
    check.py taxii URL TOKEN PER_PAGE [ADDED_AFTER]
                                              read every collection, page by page
    check.py misp URL TOKEN                   load every event of the MISP feed
    check.py csv FILE                         read a CSV file
"""

import csv
import json
import os
import sys
import urllib.request


def validate(bundle):
    """Errors and warnings of the STIX 2.1 validator, every check on."""
    from stix2validator import ValidationOptions, validate_instance

    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    errors = [str(e) for e in result.errors]
    warnings = [str(w) for w in result.warnings]
    for object_result in getattr(result, "object_results", []) or []:
        errors += [str(e) for e in object_result.errors]
        warnings += [str(w) for w in object_result.warnings]
    return {"valid": result.is_valid, "errors": errors, "warnings": warnings}


def stix(path):
    with open(path, encoding="utf-8") as f:
        bundle = json.load(f)
    out = validate(bundle)
    out["objects"] = bundle["objects"]
    return out


def taxii(url, token, per_page, added_after=None):
    from taxii2client.v21 import Server, as_pages

    # TAXII clients authenticate with HTTP Basic: the token is the password.
    server = Server(url, user="analyst", password=token)
    root = server.default
    out = {"title": server.title, "api_root": root.url, "versions": root.versions, "collections": {}}
    for collection in root.collections:
        kwargs = {"added_after": added_after} if added_after else {}
        objects, pages, problems = [], 0, []
        for envelope in as_pages(collection.get_objects, per_request=per_page, **kwargs):
            pages += 1
            page = envelope.get("objects", [])
            if len(page) > per_page:
                problems.append(f"a page of {len(page)} objects for a limit of {per_page}")
            if page:
                checked = validate({"type": "bundle", "id": "bundle--2d6c4a0e-96d8-4b8e-8b5e-0c0c3f1f6a11", "objects": page})
                problems += checked["errors"] + checked["warnings"]
            objects += page
        manifest = collection.get_manifest(**kwargs).get("objects", [])
        out["collections"][collection.title] = {
            "id": collection.id,
            "can_read": collection.can_read,
            "can_write": collection.can_write,
            "pages": pages,
            "objects": objects,
            "problems": problems,
            "last_added": max((m["date_added"] for m in manifest), default=None),
            "manifest_ids": sorted({m["id"] for m in manifest}),
        }
    return out


def misp(url, token):
    import jsonschema
    import pymisp
    from pymisp import MISPEvent

    schema_path = os.path.join(os.path.dirname(pymisp.__file__), "data", "schema.json")
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)

    def get(path):
        request = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    manifest = get("/misp-feed/manifest.json")
    events = {}
    for uuid, meta in manifest.items():
        raw = get(f"/misp-feed/{uuid}.json")
        jsonschema.validate(raw, schema)
        event = MISPEvent()
        event.load(raw)
        if event.uuid != uuid or str(event.timestamp.timestamp()).split(".")[0] != meta["timestamp"]:
            raise SystemExit(f"event {uuid} does not match its manifest entry")
        events[uuid] = {
            "info": event.info,
            "date": event.date.isoformat(),
            "threat_level_id": event.threat_level_id,
            "org": event.Orgc.name,
            "tags": [t.name for t in event.tags],
            "attributes": [
                {"type": a.type, "category": a.category, "value": a.value, "comment": a.comment, "deleted": bool(a.deleted)}
                for a in event.attributes
            ],
            # What a MISP instance would store for it (PyMISP's own feed output).
            "feed": event.to_feed(),
        }
    return {"events": events}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    return {"header": header, "rows": rows}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "stix":
        out = stix(args[0])
    elif command == "taxii":
        out = taxii(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None)
    elif command == "misp":
        out = misp(args[0], args[1])
    elif command == "csv":
        out = read_csv(args[0])
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
