"""api layer (see DESIGN.md, Shape)."""
