"""engine layer (see DESIGN.md, Shape)."""
