"""precache: know when a Nova image pre-cache has really finished.

Data flows RabbitMQ -> ``bridge`` -> Kafka -> ``pipeline`` -> derived topics; this package holds
the command line and the tools around that flow (local stack, simulator, watcher).
"""

__version__ = "0.1.0"
