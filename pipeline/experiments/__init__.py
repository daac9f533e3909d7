"""Experiments made of many training runs: sweeps and searches over configs (sweeps/) and the lecture
studies built on them (studies/)."""
