"""Evaluating a trained model: accuracy and per-class reports (evaluate), temperature calibration
(calibration), the fit diagnosis (diagnosis), figures (plots, preview) and the probes that measure a
network while it trains (probes/)."""
