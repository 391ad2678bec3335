"""Backends the drain controller can run against (see ``base.Backend``)."""
