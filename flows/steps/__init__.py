"""The guide's steps, one module each: what a command checks and records once the workflow allows it."""
