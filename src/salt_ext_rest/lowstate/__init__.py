"""Lowstate: request bodies in, validated and normalised Salt chunks out."""
