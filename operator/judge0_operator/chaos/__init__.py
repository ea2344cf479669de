"""``judge0-operator chaos``: crash points and the real APIs' nastiest behaviours, against the real
operator in the simulated world — a table where every row must read converged, no duplicate,
no leak (``main``; runs in ``runs``, flows in ``flows``, invariants in ``ledger``)."""
