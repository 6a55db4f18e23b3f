"""Actuators: thin adapters from a revocation command to one external system."""
