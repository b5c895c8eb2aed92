"""Loading specs from files: YAML with positions, located errors, Defaults merging, secret resolution."""
