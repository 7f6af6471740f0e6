"""Black-box verification of a deployment: probe, classify by real cause, gate, report."""
