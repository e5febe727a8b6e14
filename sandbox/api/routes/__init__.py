"""The API's routes (DESIGN.md section 3), one module per concern."""
