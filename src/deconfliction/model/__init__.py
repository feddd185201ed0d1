"""model layer (see DESIGN.md, Shape)."""
