"""``precache images``: the image cache inventory as the worker's HTTP view answers it, and the
rollout gate. A thin client: the rules (forecast, gate) are :mod:`precache.pipeline.inventory`'s.
"""
