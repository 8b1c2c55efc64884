"""The report's figures, one module per kind; `style` is what they share."""
