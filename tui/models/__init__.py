"""What the screens show, as plain data read from the store: no Textual here, so it tests alone."""
