"""winnow's trainer and ablations (see DESIGN.md section 6)."""
