"""One router per resource of the record."""
