"""``precache rollout`` and ``precache keep-warm``: a desired state (a policy file) reconciled
against the image cache inventory by asking Nova for what is missing, failed or expiring.

- :mod:`.policy`: the TOML policy as a typed, validated model;
- :mod:`.planner`: pure rules, (policy, inventory snapshot, operations in flight, clock) ->
  requests with reasons, paced;
- :mod:`.observe`: the snapshot, read from the worker's HTTP views (inventory and operations);
- :mod:`.series`: which retry series a restarted run continues (the target's goal, the age
  bound);
- :mod:`.nova_side`: the targets resolved through Nova and the image service (``precache cache``'s
  client);
- :mod:`.loop`: both commands' loop; :mod:`.render`: progress, JSON lines and the summary.
"""
