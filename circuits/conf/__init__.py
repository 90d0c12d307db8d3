"""The circuits package's hydra config root: `circuit/<name>.yaml` holds the built-in circuit specs."""
