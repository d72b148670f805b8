"""Lithair Node: a Raft-replicated data node for IoT sensor readings."""

__version__ = "0.1.0"
