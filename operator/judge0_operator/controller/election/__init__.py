"""Leader election (``--leader-election``): the pure Lease state machine (``state_machine``), its
three requests (``lease_api``), the renewal thread (``renewal``), what a replica knows and the fence
(``leadership``), standing by and the release on SIGTERM (``elected``), the health server
(``health``) and Kopf on a thread of its own (``operator_thread``)."""
