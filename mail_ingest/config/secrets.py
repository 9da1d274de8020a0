"""Passwords and tokens: read from the environment or a helper when connecting, never
kept in the file and never shown in an error.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

from mail_ingest.errors import ConfigError

# Hints a failing token helper may give that say what is wrong without any secret
# (RFC 6749 section 5.2 and the OpenID Connect error codes).
_TOKEN_HINTS = (
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope", "access_denied", "consent_required",
    "interaction_required", "login_required", "temporarily_unavailable", "server_error",
)  # fmt: skip


def secret(key: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{key}: environment variable {variable} is not set or empty")
    return value


def command_output(key: str, command: str, timeout: float = 60) -> str:
    """Run a token helper (no shell) and take its first output line as the secret.

    Its command line and output may hold secrets (a client secret, a refresh token), so
    a failure says only how it failed, with at most a standard OAuth2 error code.
    """
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, errors="replace",
            stdin=subprocess.DEVNULL, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{key}: the token command did not finish within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "bad command line"
        raise ConfigError(f"{key}: the token command cannot be started ({reason})") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        status = f"exit status {done.returncode}" if done.returncode else "no output"
        hint = _token_hint(done.stderr + "\n" + done.stdout)
        raise ConfigError(
            f"{key}: the token command failed ({status}{f', it reported {hint}' if hint else ''});"
            " run it by hand to see its messages"
        )
    return lines[0].strip()


def _token_hint(output: str) -> str | None:
    """A standard OAuth2 error code found in a helper's output: safe to show, useful."""
    return next((code for code in _TOKEN_HINTS if code in output.lower()), None)


def env_name(value: str) -> str | None:
    """Never quotes the value: a password put here by mistake must not be printed."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        return None
    return "must name an environment variable (letters, digits, _), not hold the password itself"


def token_command(value: str) -> str | None:
    """A command line split like a shell's; never quoted back (it may carry a secret)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return "cannot be split into a program and its arguments (check the quotes)"
    return None if words else "must name a program that prints an access token"
