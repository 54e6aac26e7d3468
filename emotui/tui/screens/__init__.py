"""One module per screen; each owns the workers whose results it shows."""
