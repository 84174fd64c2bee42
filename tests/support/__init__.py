"""Stand-ins for external systems that can't run here, faked at their HTTP boundary only."""
