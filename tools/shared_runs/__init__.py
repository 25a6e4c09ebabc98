"""Shared runs: a fixed set of texts run once over a whole site, every unit's activations kept.

The layer planner (``agent.layer_plan``) runs the experiments every unit's investigation starts with
once per layer; ``site_texts`` writes and reads what such a run produced.
"""
