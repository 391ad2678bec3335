"""The govmomi-based vCenter simulator used by the drain's integration tests (see ``build``)."""
