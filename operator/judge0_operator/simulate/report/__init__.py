"""The end-of-run report: per-fault timings, availability, cost, API calls and invariants.

Everything here is a pure function of what the runner recorded (samples every ~0.5 s, actions
from ``status.lastActions``, the injections it made), so it is tested on synthetic samples.
Timings are measured from the injection to the first *sample* that shows the effect, so they
carry up to one sampling interval of error (stated in the report).

Definitions
- detect: the first sample where an affected instance is Unhealthy (overall or on a signal), has
  left ``running`` or the status, or a fleet condition changed; or the first action on it.
- act: the first action the operator recorded on an affected instance or slot (any action for
  zone-, fleet- and API-wide faults).
- recover: the first sample where the instances the operator calls Healthy, minus those the
  step's faults still hit in the world, reach the desired count.
- availability: healthy replica-seconds ÷ desired replica-seconds, healthy capped at desired,
  both from the operator's status and from the world's truth (serving, no degrading fault).
- clients: what simulated students saw through the fleet's published front (``world/clients``):
  accepted, delivered, rejected at the front, lost (accepted, no result) with each loss's cause
  as the world saw it — the operator's own action or an injected fault. Not part of ``ok``.

``step_timings`` (when the operator noticed, acted, recovered), ``step_verdicts`` (each step
judged by its expectation), ``measures`` and ``invariants`` (the whole run), ``client_load``
(the students' section), ``build`` (the ``Report``) and ``text`` (the plain-text rendering).
"""
