"""bhrdigest: weekly email digests and instant Telegram alerts of
Business & Human Rights Resource Centre news."""

__version__ = "0.1.0"
