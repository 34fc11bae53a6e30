def pytest_make_parametrize_id(config, val, argname):
    """Readable test ids without spaces (test logs are parsed line by line, split at whitespace)."""
    if isinstance(val, str):
        return val.strip().replace(" ", "_") or "blank"
    return None
