"""Request handlers, one module per area; web/routes.py maps URLs to them."""
