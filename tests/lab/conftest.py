"""The lab fixtures (``lab_fixture``) for every test module here."""

from lab_fixture import lab_factory, simulator_built

__all__ = ["lab_factory", "simulator_built"]
