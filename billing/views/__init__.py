"""Billing's HTML pages and endpoints, one module per audience."""
