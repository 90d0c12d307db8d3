"""Recordings (NWB), analyses, rodent reference data, benchmarks and reports.

`comparisons.record(run_dir, episodes)` -> `Recording`; `write_nwb` / `read_nwb`;
`comparisons.analyses` holds the population, timescale, sequence, spiking, similarity, encoding
and behaviour analyses and the figures.
"""

from comparisons.nwb import read_nwb, write_nwb
from comparisons.recording import Recording, record

__all__ = ["Recording", "record", "read_nwb", "write_nwb"]
