"""Parses expositions of the Prometheus text format with Prometheus's own Python parser
(prometheus_client.parser), for tests/metrics.rs: whatever it cannot parse fails the test.

Reads {"expositions": ["..."]} on stdin and writes one JSON list on stdout, one entry per
exposition: {family name: {"type": ..., "samples": [[sample name, {labels}, value], ...]}}.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def parse(text):
    families = {}
    for family in text_string_to_metric_families(text):
        if family.name in families:
            raise SystemExit(f"the family {family.name} appears twice")
        families[family.name] = {
            "type": family.type,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
    return families


request = json.load(sys.stdin)
json.dump([parse(text) for text in request["expositions"]], sys.stdout)
