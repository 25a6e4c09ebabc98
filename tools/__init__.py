"""Tools the agent calls, and the model runtime they stand on."""
