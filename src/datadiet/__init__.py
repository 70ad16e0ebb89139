"""datadiet: train on less data, faster, and know why."""

__version__ = "0.1.0"
