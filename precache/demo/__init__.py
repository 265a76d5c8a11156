"""``precache demo``: the whole flow on the local stack, as one command."""
