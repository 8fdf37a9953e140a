"""User-facing errors: one line, naming the field or file at fault."""


class CowrlError(Exception):
    """Bad input from the user (config, trace file, arguments). Printed as one line."""


class TraceError(CowrlError):
    """A trace file or array is malformed or unreadable."""


class ConfigError(CowrlError):
    """A config field has an invalid value."""


class TargetUnavailable(CowrlError):
    """A target (kernel runner) cannot run here; the message says what is missing."""
