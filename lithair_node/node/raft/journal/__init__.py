"""Lithair's own Raft journal for PySyncObj: CRC-framed segment files, group commit (one
fdatasync per batch), term and vote written durably, damage found at open. See journal.py."""

from lithair_node.node.raft.journal.check import inspect_journal
from lithair_node.node.raft.journal.crashdisk import PowerLost, SimulatedDisk
from lithair_node.node.raft.journal.durable_file import make_dirs_durably, write_durably
from lithair_node.node.raft.journal.fileio import FileIO, OsFileIO, WithoutSync
from lithair_node.node.raft.journal.histogram import LatencyHistogram
from lithair_node.node.raft.journal.journal import DEFAULT_SEGMENT_BYTES, Durability, DurableJournal
from lithair_node.node.raft.journal.scan import Damage, DamageKind, JournalCorrupt
from lithair_node.node.raft.journal.writer import JournalWriteFailed

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "Damage",
    "DamageKind",
    "Durability",
    "DurableJournal",
    "FileIO",
    "JournalCorrupt",
    "JournalWriteFailed",
    "LatencyHistogram",
    "OsFileIO",
    "PowerLost",
    "SimulatedDisk",
    "WithoutSync",
    "inspect_journal",
    "make_dirs_durably",
    "write_durably",
]
