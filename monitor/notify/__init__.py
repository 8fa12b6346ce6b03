"""Delivering alerts: pure rendering and retry maths, plus one small sender per channel.

Channels never import each other; each takes the ``httpx.AsyncClient`` its
caller owns, so connection pools, limits and shutdown live in one place.
Nothing is imported here: a command that needs one module does not pay for the others.
"""
