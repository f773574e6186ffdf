"""Built-in handlers, each one module, registered as `webhook_app.handlers` entry points."""
