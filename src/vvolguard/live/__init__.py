"""Live evidence: ``collect`` gathers, read-only, what ``diagnose`` reads from vCenter and the
ESXi hosts into a case folder; ``validate`` runs the runbook's layered checks after remediation.

One module per source (tasks/events, SMS providers, host storage, vvold logs, provider
certificates), each writing the files the evidence readers already know, so a collected case is
diagnosed, escalated and attached to a ticket like any hand-gathered one.
"""
