"""The investigating agent (LangGraph graph and LLM backends); built on `tools` and `store`."""
