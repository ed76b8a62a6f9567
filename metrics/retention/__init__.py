"""Retention models for a subscription business: sBG CLV, survival curves and key drivers."""
