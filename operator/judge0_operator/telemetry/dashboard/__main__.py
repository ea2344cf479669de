"""``python -m judge0_operator.telemetry.dashboard --output FILE`` (``make dashboard``)."""

from judge0_operator.telemetry.dashboard.build import main

raise SystemExit(main())
