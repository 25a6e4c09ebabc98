"""One router per resource: health, jobs, investigations, chat, explanations, suites, tools."""
