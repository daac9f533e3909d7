"""Serving the exported SavedModel: a TF Serving-compatible REST server and file predictions."""
