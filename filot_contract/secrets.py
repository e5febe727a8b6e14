"""What makes a signing secret acceptable (seed 002 section 6: "JWT_SECRET is NOT the default value").

The API refuses to start with a weak ``JWT_SECRET`` by this rule (unless NODE_ENV=development), and a
gate check of a deployed secret can apply the same ``secret_weakness``; the placeholder list is kept here once.
"""

from __future__ import annotations

MIN_SECRET_LENGTH = 32
#: Fewer distinct characters than this ("aaaa...", "0000...") is a placeholder, not a secret.
MIN_DISTINCT_CHARACTERS = 8

#: Placeholder values seen in templates, tutorials and .env examples (compared case-insensitively,
#: surrounding whitespace ignored). Long ones matter most: they pass the length rule. The secrets
#: manifest's ``knownDefaults`` (production_secrets_required.json) must stay a subset of this set
#: (selftests/test_api.py checks it).
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "0123456789abcdef0123456789abcdef",
        "12345678",
        "12345678901234567890123456789012",
        "change-me",
        "change-this-secret-in-production",
        "change_me",
        "changeit",
        "changeme",
        "changeme-changeme-changeme-changeme",
        "default",
        "dev",
        "dev-secret",
        "dev-secret-change-in-production",
        "dev_secret",
        "development",
        "development-jwt-secret-change-me-in-production",
        "example",
        "filot-dev-secret",
        "filot-development-jwt-secret-change-me",
        "jwt-secret",
        "jwt_secret",
        "jwtsecret",
        "mysecret",
        "passw0rd",
        "password",
        "please-change-this-secret-in-production",
        "replace-me",
        "replace_me",
        "secret",
        "secrets",
        "super-secret",
        "supersecret",
        "test",
        "testing",
        "todo",
        "xxx",
        "your-jwt-secret",
        "your-jwt-secret-here",
        "your-secret-key",
        "your-secret-key-change-in-production",
        "your-secret-key-here",
        "your-super-secret-jwt-key",
        "your-super-secret-jwt-key-change-in-production",
        "your-super-secret-jwt-key-change-this-in-production",
        "your-super-secret-jwt-token-with-at-least-32-characters-long",
        "your-super-secret-key",
        "your_jwt_secret",
        "your_secret_key",
    }
)


def secret_weakness(value: str) -> str | None:
    """Why ``value`` is not acceptable as a signing secret, or None when it is. Never echoes the value."""
    if value.strip().lower() in KNOWN_DEFAULT_SECRETS:
        return "is a known default/placeholder value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is {len(value)} characters long, at least {MIN_SECRET_LENGTH} are required"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"uses fewer than {MIN_DISTINCT_CHARACTERS} distinct characters (a placeholder, not a secret)"
    return None
