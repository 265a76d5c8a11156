"""A stand-in for Nova's compute API (and the bit of Glance that resolves image names).

It speaks the subset of Nova's HTTP contract that ``precache cache`` uses, with Nova's status
codes, error bodies, microversion headers and request ids, and on an accepted pre-cache request
runs the conductor simulation (:mod:`precache.simulate`) with that request's ids, so the
notifications reach RabbitMQ as Nova's would. For the tests and the demo; not a Nova.
"""

from precache.novaapi.config import StandInAggregate, StandInConfig, StandInImage, load_config

__all__ = ["StandInAggregate", "StandInConfig", "StandInImage", "load_config"]
