"""``vvolguard watch``: the VASA control plane as Prometheus metrics, from the hosts' own logs.

ESXi already forwards every log over syslog; watch receives it (:mod:`.receiver`, framing in
:mod:`.framing`), reads the syslog header (:mod:`.syslog`), turns the ESXi message back into the
log line the host wrote (:mod:`.esxline`), parses the vvold lines with the same reader
``diagnose`` uses (:mod:`.ingest`), folds them into per-host, per-provider windows judged with
``diagnose``'s thresholds (:mod:`.state`) and serves them on ``/metrics`` (:mod:`.metrics`).
"""
