"""Every helper the tests share, in modules named for what they hold.

Test modules import helpers only from here, never from another test module or conftest:
``amqp`` (publish, queues), ``kafka`` (produce, read topics), ``messages`` (Nova notifications
as oslo sends them), ``oslo`` (oslo.messaging's Notifier as Nova uses it), ``bridge`` (run the
bridge, read its counts), ``worker`` (``precache worker`` subprocesses), ``schemas`` (the
committed JSON Schemas), ``notifications`` (raw records parsed), ``nova_samples`` (the committed
Nova fixtures), ``nova_api`` (the Nova API stand-in), ``watch_events`` and ``watch_source``
(derived events for the watcher), ``audit_records``, and the whole-chain suites' ``chain``,
``publishers``, ``traffic`` and ``fuzz``.
"""
