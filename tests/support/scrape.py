"""Scrape a real ``/metrics`` page over HTTP and read it with prometheus_client's own parser."""

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass
class Scrape:
    """The samples of one scrape, and the family names it declared."""

    families: set[str]
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The one sample named ``name`` whose labels include ``labels`` (0 when none)."""
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def total(self, name: str) -> float:
        """Every sample named ``name`` summed over its labels."""
        return sum(s.value for s in self.samples if s.name == name)

    def names(self) -> set[str]:
        """Every name a query can use: families and their samples (``_total``, ``_bucket``)."""
        return self.families | {s.name for s in self.samples}


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    return Scrape({f.name for f in families}, [s for f in families for s in f.samples])
