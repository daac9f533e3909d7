"""The one error the model factories raise for a bad option."""


class OptionError(ValueError):
    """A model option with a bad value, or one the model does not take. The message starts with the
    option's name (``activation must be one of ...``), so a caller can prefix its own key path."""
