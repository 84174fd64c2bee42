"""The product's own date and time formats (Django's FORMAT_MODULE_PATH)."""
