def snoop():
    """Tries to read the host's password file."""
    return open("/etc/passwd").read()
