"""Pipeline: faust agents that turn notifications into operation state and derived events."""
