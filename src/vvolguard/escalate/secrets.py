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
      [\w-]{0,40}(?:password|passwd|passphrase|secret|token|api[_-]?key|session[_-]?id|session[_-]?key)[\w-]{0,40}
    | pwd | session | sid | ticket
    | vmware_soap_session | vmware_cgi_ticket | vmware-api-session-id
)"""
#: A value: quoted, or a run up to a delimiter. A backslash before a quote ends it (JSON text).
_VALUE = r"""(?:\\"(?:[^"\\\n]|\\(?!"))*\\"|"[^"\n]*"|'[^'\n]*'|(?:\\(?!")|[^\s"',;&\]\)<>\\])+)"""

_KEY_VALUE = re.compile(
    rf"""(?ix)(?<![\w-])(?P<key>{_SECRET_KEY})(?P<sep>\\?["']?\s*[:=]\s*)(?P<val>{_VALUE})"""
)
#: ``sessionId 52a1...``, ``vmware-api-session-id 52a1...`` (setContext lines, SOAP dumps): a key
#: and a token separated by blanks only. The value must look like a token (8+ characters with a
#: digit), so ``session state: Connected`` and ``sessionId is invalid`` stay readable.
_SPACED_TOKEN = re.compile(
    r"(?i)(?<![\w-])(?P<key>[\w-]{0,40}session[_-]?(?:id|key)|vmware-api-session-id|vmware_soap_session"
    r"|x-vmware-vasa-session|vasasessionid)(?P<sep>[\s\"':=]+)(?P<val>(?=[\w.+/=-]{0,200}\d)[\w.+/=-]{8,})"
)
#: Command-line flags: ``--password Hunter2!``, ``--token=abc``, ``-password 'x y'``.
_FLAG = re.compile(
    r"""(?i)(?<![\w-])(?P<key>--?(?:[\w-]{0,40}(?:password|passwd|passphrase|secret|token|api-?key)[\w-]{0,40}|pwd))"""
    r"""(?P<sep>\s+|=)(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s"']+)"""
)
#: Header-like keys whose whole remaining line (or quoted string) is the secret.
_HEADER = re.compile(
    r"""(?i)(?<![\w-])(?P<key>(?:proxy-)?authorization|set-cookie|cookie|x-auth-token|x-api-key)"""
    r"""(?P<sep>["']?\s*[:=]\s*)(?P<val>"[^"\n]*"|[^\n]*)"""
)
_BEARER = re.compile(r"(?i)\b(Bearer|Basic|Negotiate)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^/\s:@\"'<>]+:[^/\s\"'<>]+@")
#: ``<Password>x</Password>``, ``<wsse:Password Type=..>``, ``<Password><![CDATA[x]]></Password>``;
#: an element whose closing tag is not on the line loses the rest of the line.
_XML_SECRET = re.compile(
    r"(?i)<(?P<tag>(?:[\w.-]{1,40}:)?[\w.-]{0,40}(?:password|passwd|token|session[_-]?id|ticket|secret|cookie)"
    r"[\w.-]{0,40})"
    r"(?P<attrs>\s[^<>]*)?>(?P<val><!\[CDATA\[(?:[^\]\n]|\](?!\]>))*(?:\]\]>)?|[^<\n]*)"
)
_PEM_KEY_INLINE = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)"
)
_PEM_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_SAML_INLINE = re.compile(r"(?is)<(?P<p>[\w-]+:)?Assertion\b.*?(?:</(?P=p)?Assertion\s*>|$)")
_SAML_BEGIN = re.compile(r"(?i)<(?:[\w-]+:)?Assertion\b")
_SAML_END = re.compile(r"(?i)</(?:[\w-]+:)?Assertion\s*>")
#: A word every pattern above needs: text without one is returned as it is, untouched and fast
#: (most log lines, and any block of blank lines or binary junk).
_TRIGGER = re.compile(
    r"(?i)pass|pwd|secret|token|key|session|sid|ticket|cookie|auth|bearer|basic|negotiate|eyJ|://|assertion"
)


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
    if not _TRIGGER.search(line):
        return line
    if "PRIVATE KEY-----" in line:
        line = _PEM_KEY_INLINE.sub("[private key removed]", line)
    if "ssertion" in line:
        line = _SAML_INLINE.sub("[SAML assertion removed]", line)
    line = _XML_SECRET.sub(lambda m: f"<{m.group('tag')}{m.group('attrs') or ''}>{PLACEHOLDER}", line)
    line = _URL_CREDENTIALS.sub(lambda m: m.group(1) + PLACEHOLDER + "@", line)
    line = _HEADER.sub(_keep_quotes, line)
    line = _BEARER.sub(lambda m: f"{m.group(1)} {PLACEHOLDER}", line)
    line = _JWT.sub(PLACEHOLDER, line)
    line = _FLAG.sub(_keep_quotes, line)
    line = _SPACED_TOKEN.sub(_keep_quotes, line)
    return _KEY_VALUE.sub(_keep_quotes, line)


def strip_lines(lines: Iterable[str]) -> Iterator[str]:
    """Strip secrets from a stream of lines, dropping multi-line private keys and SAML blocks.

    A block that never ends (a truncated file) drops everything after its start: losing text is
    better than leaking a key.
    """
    yield from SecretStripper()._lines(lines)


class SecretStripper:
    """:func:`strip_lines` for a stream of text blocks (complete lines joined by ``\\n``).

    The state of a private key or SAML assertion that spans blocks is kept between calls; a
    block without any trigger word (and outside such a span) is returned as it is.
    """

    def __init__(self) -> None:
        self._inside: re.Pattern[str] | None = None

    def block(self, text: str) -> str:
        if self._inside is None and not _TRIGGER.search(text):
            return text
        return "\n".join(self._lines(text.split("\n")))

    def _lines(self, lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            if self._inside is not None:
                if self._inside.search(line):
                    self._inside = None
                continue
            if _PEM_KEY_BEGIN.search(line) and not _PEM_KEY_END.search(line):
                yield _PEM_KEY_BEGIN.split(line, maxsplit=1)[0] + "[private key removed]"
                self._inside = _PEM_KEY_END
                continue
            if _SAML_BEGIN.search(line) and not _SAML_END.search(line):
                yield _SAML_BEGIN.split(line, maxsplit=1)[0] + "[SAML assertion removed]"
                self._inside = _SAML_END
                continue
            yield strip_line(line)


def strip_text(text: str) -> str:
    """Strip secrets from a whole (small) document, keeping its line structure."""
    ends_with_newline = text.endswith("\n")
    out = "\n".join(strip_lines(text.split("\n")[:-1] if ends_with_newline else text.split("\n")))
    return out + "\n" if ends_with_newline else out
