"""User hooks: run a step's command as a subprocess with a timeout and a documented environment."""
