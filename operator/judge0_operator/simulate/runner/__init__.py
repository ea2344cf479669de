"""One simulation: world up, operator up, fleet Ready, scenario played, everything sampled.

    world (in-process) ──► operator (subprocess) ──► Secret + RecoveryPolicy + Judge0Fleet
        ──► wait for Ready ──► scenario steps via the control API ──► settle ──► report

A sampler reads the fleet's status and the world's instances and faults every ~0.5 s; the
report is computed from those samples only (``report/``). The scenario clock pauses while a
step waits for the fleet to be whole, so one slow recovery does not stack faults.

``context`` (the options and what every part of a run shares), ``sampling`` (the sampler and the
timeline it feeds), ``waiting`` (is the fleet whole; settling), ``playing`` (the scenario's steps:
inject, clear, on the scenario clock) and ``simulation`` (the run from start to report).
"""
