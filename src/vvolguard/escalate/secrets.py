"""Strip secrets (passwords, session ids, cookies, tokens, SAML, private keys) from text.

Why always, even without ``--redact``: a package goes to a third party, and a live session id or a
password in a hostd line is worth more to an attacker than any hostname. Pseudonymisation is the
user's choice; secret removal is not.

Works line by line (logs are streamed) with a little state for multi-line blocks (PEM private
keys, SAML assertions). The replacement text is JSON-safe (no quotes, no backslashes), so the same
function can clean a JSON document as text without breaking it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

PLACEHOLDER = "<redacted>"

#: Keys whose value is a secret, in key=value / key: value / "key": "value" shapes.
_SECRET_KEY = r"""(?:
      [\w-]*(?:password|passwd|passphrase|secret|token|api[_-]?key)[\w-]*
    | pwd | session(?:[_-]?id)? | sid | ticket
    | vmware_soap_session | vmware_cgi_ticket | vmware-api-session-id
)"""
#: A value: quoted, or a run up to a delimiter. A backslash before a quote ends it (JSON text).
_VALUE = r"""(?:\\"(?:[^"\\\n]|\\(?!"))*\\"|"[^"\n]*"|'[^'\n]*'|(?:\\(?!")|[^\s"',;&\]\)<>\\])+)"""

_KEY_VALUE = re.compile(
    rf"""(?ix)(?<![\w-])(?P<key>{_SECRET_KEY})(?P<sep>\\?["']?\s*[:=]\s*)(?P<val>{_VALUE})"""
)
#: Header-like keys whose whole remaining line (or quoted string) is the secret.
_HEADER = re.compile(
    r"""(?i)(?<![\w-])(?P<key>(?:proxy-)?authorization|set-cookie|cookie|x-auth-token|x-api-key)"""
    r"""(?P<sep>["']?\s*[:=]\s*)(?P<val>"[^"\n]*"|[^\n]*)"""
)
_BEARER = re.compile(r"(?i)\b(Bearer|Basic|Negotiate)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"'<>]+:[^/\s\"'<>]+@")
_XML_SECRET = re.compile(
    r"(?is)<(?P<tag>[\w.-]*:?[\w.-]*(?:password|token|sessionid|ticket|secret|cookie)[\w.-]*)\b[^>]*>"
    r"[^<]*</(?P=tag)\s*>"
)
_PEM_KEY_INLINE = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)"
)
_PEM_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_SAML_INLINE = re.compile(r"(?is)<(?P<p>[\w-]+:)?Assertion\b.*?(?:</(?P=p)?Assertion\s*>|$)")
_SAML_BEGIN = re.compile(r"(?i)<(?:[\w-]+:)?Assertion\b")
_SAML_END = re.compile(r"(?i)</(?:[\w-]+:)?Assertion\s*>")


def _keep_quotes(match: re.Match[str]) -> str:
    value = match.group("val")
    if value.startswith('\\"') and value.endswith('\\"') and len(value) >= 4:
        value = '\\"' + PLACEHOLDER + '\\"'
    elif value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        value = value[0] + PLACEHOLDER + value[-1]
    else:
        value = PLACEHOLDER
    return match.group("key") + match.group("sep") + value


def strip_line(line: str) -> str:
    """Remove every secret this module knows from one line (no multi-line state)."""
    if "PRIVATE KEY-----" in line:
        line = _PEM_KEY_INLINE.sub("[private key removed]", line)
    if "ssertion" in line:
        line = _SAML_INLINE.sub("[SAML assertion removed]", line)
    line = _XML_SECRET.sub(lambda m: f"<{m.group('tag')}>{PLACEHOLDER}</{m.group('tag')}>", line)
    line = _URL_CREDENTIALS.sub(lambda m: m.group(1) + PLACEHOLDER + "@", line)
    line = _HEADER.sub(_keep_quotes, line)
    line = _BEARER.sub(lambda m: f"{m.group(1)} {PLACEHOLDER}", line)
    line = _JWT.sub(PLACEHOLDER, line)
    return _KEY_VALUE.sub(_keep_quotes, line)


def strip_lines(lines: Iterable[str]) -> Iterator[str]:
    """Strip secrets from a stream of lines, dropping multi-line private keys and SAML blocks.

    A block that never ends (a truncated file) drops everything after its start: losing text is
    better than leaking a key.
    """
    inside: re.Pattern[str] | None = None
    for line in lines:
        if inside is not None:
            if inside.search(line):
                inside = None
            continue
        if _PEM_KEY_BEGIN.search(line) and not _PEM_KEY_END.search(line):
            yield _PEM_KEY_BEGIN.split(line, maxsplit=1)[0] + "[private key removed]"
            inside = _PEM_KEY_END
            continue
        if _SAML_BEGIN.search(line) and not _SAML_END.search(line):
            yield _SAML_BEGIN.split(line, maxsplit=1)[0] + "[SAML assertion removed]"
            inside = _SAML_END
            continue
        yield strip_line(line)


def strip_text(text: str) -> str:
    """Strip secrets from a whole (small) document, keeping its line structure."""
    ends_with_newline = text.endswith("\n")
    out = "\n".join(strip_lines(text.split("\n")[:-1] if ends_with_newline else text.split("\n")))
    return out + "\n" if ends_with_newline else out
