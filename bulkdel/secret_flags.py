"""Secret hygiene every layer shares: flags refused on the command line, and text redaction.

The CLI calls `refuse_secret_flags` before every command, `bulkdel --help` included, so this
module imports only the standard library and `bulkdel.errors` (start-up budget 0.3 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bulkdel.errors import UsageError

#: Flags that would put a secret on the command line, and where the secret goes instead.
SECRET_FLAGS: dict[str, str] = {
    "--token": "set BULKDEL_TOKEN or use --token-file FILE",
    "--auth-token": "set BULKDEL_TOKEN or use --token-file FILE",
    "--os-auth-token": "set BULKDEL_TOKEN (or OS_AUTH_TOKEN) or use --token-file FILE",
    "--password": "set BULKDEL_PASSWORD (or OS_PASSWORD)",
    "--os-password": "set BULKDEL_PASSWORD (or OS_PASSWORD)",
    "--sk": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--secret-key": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--ak-sk": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--security-token": "set HUAWEICLOUD_SDK_SECURITY_TOKEN",
}

#: Environment variables whose values are secrets (for scrubbing diagnostics).
SECRET_ENV_VARS = (
    "BULKDEL_TOKEN",
    "OS_AUTH_TOKEN",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "BULKDEL_PASSWORD",
    "OS_PASSWORD",
)


def refuse_secret_flags(argv: Sequence[str]) -> None:
    """Raise UsageError if argv offers a secret as an option (`--token X` or `--token=X`)."""
    for arg in argv:
        if arg == "--":
            return  # what follows is positional, not options
        flag = arg.split("=", 1)[0]
        if flag in SECRET_FLAGS:
            raise UsageError(
                f"{flag} is not accepted: secrets on the command line leak into shell history "
                f"and ps; {SECRET_FLAGS[flag]}"
            )


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret of 4+ characters in `text` with `***` (longest first)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
