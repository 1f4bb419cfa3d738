"""Peer libraries (Norse, snnTorch, SpikingJelly, Spyx) on the common Linear + LIF layer.

``python -m benchmarks.peers.compare --help``. Each peer runs in its own process, under its own
interpreter, as a worker that speaks the line protocol of :mod:`benchmarks.peers._protocol`;
the workers import neither spikejax nor each other.
"""
