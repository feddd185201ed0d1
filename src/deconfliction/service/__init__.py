"""service layer (see DESIGN.md, Shape)."""
