"""Held-out suites, real data, transfer metrics and the reports that show them."""
