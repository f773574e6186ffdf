"""Provider modules turn provider input into normalized events; they know nothing of handlers."""
