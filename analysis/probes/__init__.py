"""Probes: forward passes over a trained network — the streaming activation pass, one image's views, mosaics."""
