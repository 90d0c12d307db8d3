"""Analyses neuroscientists run on recordings, each a plain function on Recordings or arrays.

dimensionality (PCA, participation ratio) · timescales (Murray et al. 2014) · sequences
(cross-validated peak ordering) · spiking (log-normal rates, ISI CV, Fano factor) · similarity
(RDM/RSA, linear CKA, Procrustes, CCA) · encoding (cross-validated ridge and Poisson GLM) ·
behaviour (IPIs, success, learning curves, locomotion) · figures (matplotlib PNGs).
"""

from comparisons.analyses import behaviour, dimensionality, encoding, sequences, similarity, spiking, timescales

__all__ = ["behaviour", "dimensionality", "encoding", "sequences", "similarity", "spiking", "timescales"]
