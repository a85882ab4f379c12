"""Delivering goal events to the ABsmartly Collector."""
