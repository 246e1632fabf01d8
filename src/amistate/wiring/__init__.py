"""One way in: settings from the environment and the composition root."""
