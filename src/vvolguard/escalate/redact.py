"""Pseudonymise host names, IP addresses and user names consistently across a whole package.

Why two phases: an identifier must get the same alias in every file (the diagnosis, the excerpts,
the esxcli copies, the member names), so every identifier has to be known before the first file
is rewritten. Phase one (:meth:`Pseudonymizer.add_*`, :meth:`Pseudonymizer.discover`) collects
identifiers from the structured evidence (bundle host names, task source/destination hosts,
provider URLs, certificate names) and from regexes over all the text that goes into the package.
:meth:`Pseudonymizer.finalize` derives the domains and short names, assigns aliases, and compiles
one replacement pattern (longest identifier first, case-insensitive, bounded by non-alphanumerics
so ``esx-03`` never matches inside ``esx-030`` but does inside ``esx-esx-03-2024...`` bundle names).
Phase two (:meth:`Pseudonymizer.apply`) rewrites text.

Aliases are obviously fake and cannot collide with real data: ``host-01``, ``dom-01.invalid``
(RFC 2606), ``user-01``, ``ad-01`` (NetBIOS domains), ``vp-01`` (provider names), IPv4 addresses
from the documentation ranges of RFC 5737 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and IPv6
addresses under 2001:db8::/32 (RFC 3849). An alias that happens to equal an original identifier is
skipped.

What is deliberately kept (documented in the package README): built-in account names (``root``,
``vpxuser``, ``dcui``, ``Administrator``...), the SSO default domain ``vsphere.local``, loopback and
unspecified addresses, netmasks, public vendor and schema domains (``vmware.com``, ``w3.org``...),
array IDs, datastore names, and VM names unless ``vm_names`` is asked for. VM names are optional
because they are the vendor's main key to correlate tasks with array objects, and because they are
free text (spaces, common words) that is easy to over-match; when asked, the VM names found in
the diagnosis and in the task and event exports (``Vm.Name``, ``EntityName``, a CSV ``Target``
column, "Migrating <vm> from" messages) are replaced.

What cannot be found: a single-label host name that appears only in free text, with no bundle,
export, URL or known domain to name it (``connection from backupsrv``). The leak tests plant every
shape that the evidence formats document; anything else deserves a look before sending.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    HOST = "host"
    DOMAIN = "domain"
    NETBIOS = "netbios-domain"
    IP = "ip"
    USER = "user"
    PROVIDER = "provider"
    VM = "vm"


#: Account names that are ESXi/vCenter built-ins: not personal, and useful to the vendor.
KEEP_USERS = frozenset(
    {
        "root", "vpxuser", "dcui", "admin", "system", "nobody", "daemon", "vpxd",
        "anonymous", "guest", "none", "unknown", "null", "n/a", "true", "false", "user", "users",
    }
)  # fmt: skip
KEEP_USER_PREFIXES = ("vpxd-extension-", "vsphere-webclient-", "vsan-health-", "machine-")
KEEP_HOSTS = frozenset({"localhost", "localhost.localdomain", "localdomain"})
#: Names kept as they stand, though hosts under them are not.
KEEP_EXACT = frozenset({"local", "localdomain"})
#: Public domains (vendors, XML schemas) that identify nobody; a host under them is kept.
KEEP_DOMAIN_SUFFIXES = (
    "vmware.com", "broadcom.com", "w3.org", "xmlsoap.org", "oasis-open.org",
    "microsoft.com", "purestorage.com", "netapp.com", "dell.com", "delltechnologies.com", "hpe.com",
    "hitachi.com", "ibm.com", "openssl.org", "example.invalid", "invalid", "vmware.vim.vasa",
)  # fmt: skip
#: Top-level labels used only inside organisations: a dotted name ending in one is a host name.
PRIVATE_TLDS = frozenset(
    {"local", "lan", "corp", "internal", "intranet", "intra", "home", "localdomain", "private", "priv", "ad"}
)
#: Public top-level labels under which a dotted name of three labels or more is taken for a host
#: name even when nothing else names its domain (``esx-07.corp.example.net``). File extensions
#: that are also country codes (``.md``, ``.py``, ``.sh``, ``.pl``...) are left out on purpose.
PUBLIC_TLDS = frozenset(
    {
        "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "us", "uk", "de",
        "fr", "nl", "be", "ch", "at", "it", "es", "se", "no", "dk", "fi", "jp", "cn", "kr", "au", "nz",
        "ca", "br", "ru", "cz", "eu", "ie", "lu", "hu", "ro", "gr", "pt", "tw", "hk", "sg", "za", "mx",
        "ar", "cloud", "tech", "online", "site", "systems", "solutions", "global", "group", "example",
        "test", "arpa",
    }
)  # fmt: skip
#: Leading labels of reverse-DNS style names (``com.vmware.vim``, ``com.purestorage:...``).
REVERSE_DNS_HEADS = frozenset({"com", "org", "net", "io", "de", "jp"})

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOTTED = re.compile(rf"(?<![A-Za-z0-9.-]){_LABEL}(?:\.{_LABEL})+(?![A-Za-z0-9-]|\.[A-Za-z0-9])")
_IPV4 = re.compile(r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9]|\.\d)")
#: The same address written with dashes (``esx-10-77-1-25``, ``ip-10-77-1-25.ec2.internal``, PTR
#: style names) or with URL-encoded dots (``10%2E77%2E1%2E25``).
_IPV4_DASHED = re.compile(r"(?<![0-9.])(?<!\d-)(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?![0-9])(?!-\d)")
_IPV4_ENCODED = re.compile(r"(?i)(?<![0-9])(\d{1,3})%2e(\d{1,3})%2e(\d{1,3})%2e(\d{1,3})(?![0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?![0-9A-Za-z:])")
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:version|ver|build|firmware|fw|release|v)\W{0,3}$")
_URL = re.compile(
    r"""(?i)\b[a-z][a-z0-9+.-]{0,30}://(?:(?P<user>[^/\s@:"'<>]+)(?::[^/\s"'<>]*)?@)?"""
    r"""(?P<host>\[[0-9a-f:.%]+\]|[^\s:/?#"'<>\[\](){},;]+)"""
)
_USER_KV = re.compile(
    r"""(?i)(?<![\w-])["']?(?:user(?:[_ -]?name)?|initiator|login|principal)["']?"""
    r"""\s*[:=]\s*["']?(?P<val>[^\s"',;\]\[)(]+)"""
)
_LOGIN_TAG = re.compile(r"\[login:(?P<val>[^\]\s]+)\]")
_FOR_USER = re.compile(
    r"(?i)\b(?:(?:for|by) user '?|(?:Accepted|Failed) \S+ for (?!user )(?:invalid user )?)(?P<val>[^\s',]+)"
)
_DOMAIN_USER = re.compile(
    r"(?<![\w.\\-])(?P<dom>[A-Z][A-Z0-9.-]{0,30})\\{1,2}(?P<user>[A-Za-z0-9][\w.$-]{0,63})"
)
_UPN = re.compile(
    r"(?<![\w.+-])(?P<user>[A-Za-z0-9][\w.+-]{0,63})@(?P<dom>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_VISERVER = re.compile(r"(?i)VIServer=(?P<user>[^@/\s]+)@(?P<host>[^:/\s]+)")
_VP_NAME = re.compile(r"(?:\bto VP |\bfor VP |VP Name:\s*|\bVP \()(?P<val>[A-Za-z0-9][\w.:-]*[A-Za-z0-9])")
_HOST_FIELD = re.compile(
    r"""(?i)(?:Fully Qualified Domain Name|Host ?Name|/adv/Misc/HostName|hostname|vcenter|server)"""
    r"""["']?\s*[:=]\s*["']?(?P<val>[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])"""
)
#: VM names where exports spell them (only used when VM names are pseudonymised too).
_VM_NAME = re.compile(
    r"""(?i)"Vm"\s*:\s*\{\s*"Name"\s*:\s*"(?P<a>[^"]+)"|"(?:EntityName|VmName)"\s*:\s*"(?P<b>[^"]+)"|"""
    r"""\b(?:Hot migrating|Migrating|Relocating|migration of virtual machine) (?P<c>\S+?),? from """
)
_CSV_VM_COLUMN = re.compile(r"(?i)^(?:target|vm|virtual machine|vm name)$")
_CSV_USER_COLUMN = re.compile(r"(?i)^(?:user ?name|user|initiator|owner|login|principal)$")
_CSV_HOST_COLUMN = re.compile(
    r"(?i)^(?:server|host|host ?name|source(?: host)?|dest(?:ination)?(?: host)?"
    r"|target host|vcenter|esxi host)$"
)
_BOUNDARY_BEFORE = r"(?:(?<![A-Za-z0-9])|(?<=%5[Cc])|(?<=%40)|(?<=%2[Ff])|(?<=\\[nrt]))"
_BOUNDARY_AFTER = r"(?![A-Za-z0-9])"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _is_kept_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_loopback or ip.is_unspecified:
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        value = int(ip)
        inverted = value ^ 0xFFFFFFFF
        is_mask = value != 0 and (inverted & (inverted + 1)) == 0 and str(ip).startswith("255.")
        return is_mask or ip.is_multicast or str(ip) == "255.255.255.255"
    return ip.is_multicast


def _kept_domain(name: str) -> bool:
    lowered = name.lower().rstrip(".")
    return (
        lowered in KEEP_HOSTS
        or lowered in KEEP_EXACT
        or any(lowered == s or lowered.endswith("." + s) for s in KEEP_DOMAIN_SUFFIXES)
    )


def _hostish(name: str) -> bool:
    """A plausible host name: DNS characters, at least one letter, not a number or a version."""
    return bool(
        re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", name)
        and re.search(r"[A-Za-z]", name)
        and not re.fullmatch(r"v?\d+(?:\.\d+)*[a-z]?", name, re.IGNORECASE)
    )


def _alias_ipv4(index: int) -> str:
    nets = ("192.0.2.", "198.51.100.", "203.0.113.")
    net, host = divmod(index, 254)
    if net < len(nets):
        return f"{nets[net]}{host + 1}"
    return f"2001:db8:4::{index:x}"  # past 762 addresses, fall back to documentation IPv6


@dataclass
class Pseudonymizer:
    """Collects identifiers, then replaces them everywhere with stable aliases."""

    vm_names: bool = False
    _found: dict[Category, dict[str, str]] = field(default_factory=lambda: {c: {} for c in Category})
    _candidates: set[str] = field(default_factory=set)
    _aliases: dict[str, str] = field(default_factory=dict)  # lower-cased identifier -> alias
    _categories: dict[str, Category] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    # -- phase one: collecting ---------------------------------------------------------------

    def _add(self, category: Category, text: str) -> None:
        text = text.strip().strip("\"'").rstrip(".")
        if len(text) < 2:
            return
        self._found[category].setdefault(text.lower(), text)

    def add_host(self, name: str | None) -> None:
        """A host name (short or FQDN) or an IP address from structured evidence."""
        if not name:
            return
        name = name.strip().strip("[]").rstrip(".")
        ip = _ip(name)
        if ip is not None:
            self.add_ip(name)
        elif _hostish(name) and not _kept_domain(name):
            self._add(Category.HOST, name)

    def add_ip(self, text: str) -> None:
        ip = _ip(text)
        if ip is not None and not _is_kept_ip(ip):
            self._add(Category.IP, text.strip("[]").split("%", 1)[0])

    def add_user(self, principal: str | None) -> None:
        """A user name in any of its spellings: ``vpxuser:CORP\\svc``, ``svc@corp.com``, ``svc``."""
        if not principal:
            return
        for part in principal.strip().strip("\"'").split(":"):
            part = part.strip()
            if "\\" in part:
                domain, _, user = part.replace("\\\\", "\\").partition("\\")
                if "." in domain:  # an SSO or DNS domain (VSPHERE.LOCAL\\x): one alias with its FQDN use
                    self.add_domain(domain)
                elif domain and not _kept_domain(domain):
                    self._add(Category.NETBIOS, domain)
                self._add_user_name(user)
            elif "@" in part:
                user, _, domain = part.rpartition("@")
                self._add_user_name(user)
                if "." in domain:
                    self.add_domain(domain)
                elif domain and not domain.isdigit():
                    self._add(Category.NETBIOS, domain)
            else:
                self._add_user_name(part)

    def _add_user_name(self, user: str) -> None:
        user = user.strip().strip("\"'")
        lowered = user.lower()
        if (
            len(user) < 2
            or lowered in KEEP_USERS
            or lowered.startswith(KEEP_USER_PREFIXES)
            or not re.fullmatch(r"[A-Za-z0-9][\w.$-]*", user)
            or user.isdigit()
        ):
            return
        self._add(Category.USER, user)

    def add_domain(self, domain: str) -> None:
        if not _kept_domain(domain) and _hostish(domain):
            self._add(Category.DOMAIN, domain)

    def add_provider(self, name: str | None) -> None:
        if name and _hostish(name.strip()) and not _kept_domain(name):
            self._add(Category.PROVIDER, name)

    def add_vm(self, name: str | None) -> None:
        if self.vm_names and name and len(name.strip()) >= 2:
            self._add(Category.VM, name)

    def discover(self, line: str) -> None:
        """Find identifiers in one line of free text."""
        for m in _URL.finditer(line):
            host = m.group("host")
            if host.lower().split(".", 1)[0] not in REVERSE_DNS_HEADS:
                self.add_host(host)
            if m.group("user"):
                self.add_user(m.group("user"))
        for m in _IPV4.finditer(line):
            if _VERSION_CONTEXT.search(line, max(0, m.start() - 16), m.start()) and m.start() > 0:
                continue
            self.add_ip(m.group(0))
        if "-" in line or "%" in line:
            for pattern in (_IPV4_DASHED, _IPV4_ENCODED):
                for m in pattern.finditer(line):
                    octets = m.groups()
                    if all(int(o) <= 255 for o in octets) and not _VERSION_CONTEXT.search(
                        line, max(0, m.start() - 16), m.start()
                    ):
                        self.add_ip(".".join(octets))
        if line.count(":") >= 2:
            for m in _IPV6.finditer(line):
                text = m.group(0)
                if ("::" in text or text.count(":") == 7) and _ip(text) is not None:
                    self.add_ip(text)
        for pattern in (_USER_KV, _LOGIN_TAG, _FOR_USER):
            for m in pattern.finditer(line):
                self.add_user(m.group("val"))
        for m in _DOMAIN_USER.finditer(line):
            self.add_user(f"{m.group('dom')}\\{m.group('user')}")
        for m in _UPN.finditer(line):
            if not _kept_domain(m.group("dom")):
                self.add_user(m.group(0))
        for m in _VISERVER.finditer(line):
            self.add_user(m.group("user"))
            self.add_host(m.group("host"))
        for m in _VP_NAME.finditer(line):
            self.add_provider(m.group("val"))
        for m in _HOST_FIELD.finditer(line):
            self.add_host(m.group("val"))
        for m in _DOTTED.finditer(line):
            self._candidates.add(m.group(0).lower())
        if self.vm_names:
            for m in _VM_NAME.finditer(line):
                self.add_vm(m.group("a") or m.group("b") or m.group("c"))

    def discover_lines(self, lines: Iterable[str]) -> None:
        """Discover over a file's lines; a CSV header names user and host columns to harvest."""
        user_cols: list[int] = []
        host_cols: list[int] = []
        vm_cols: list[int] = []
        delimiter = ","
        for number, line in enumerate(lines):
            self.discover(line)
            if number == 0:
                delimiter = max((",", ";", "\t"), key=line.count)
                header = _csv_row(line, delimiter)
                user_cols = [i for i, c in enumerate(header) if _CSV_USER_COLUMN.match(c.strip())]
                host_cols = [i for i, c in enumerate(header) if _CSV_HOST_COLUMN.match(c.strip())]
                vm_cols = [i for i, c in enumerate(header) if _CSV_VM_COLUMN.match(c.strip())]
                continue
            if user_cols or host_cols or vm_cols:
                row = _csv_row(line, delimiter)
                for i in user_cols:
                    if i < len(row):
                        self.add_user(row[i])
                for i in host_cols:
                    if i < len(row):
                        self.add_host(row[i].strip())
                for i in vm_cols:
                    if i < len(row):
                        self.add_vm(row[i].strip())

    # -- finalising --------------------------------------------------------------------------

    def finalize(self) -> None:
        """Derive short names and domains, assign aliases, compile the replacement pattern."""
        hosts = self._found[Category.HOST]
        domains = self._found[Category.DOMAIN]
        for lowered, name in list(hosts.items()):
            if "." in lowered:
                self.add_domain(name.split(".", 1)[1])
        known = {d for d in domains if not _kept_domain(d)}
        # A sibling under the parent domain (vc.example.com next to esx.corp.example.com) is the
        # same organisation: widen to the last two labels.
        widened = set(known)
        for d in known:
            labels = d.split(".")
            if len(labels) >= 2:
                widened.add(".".join(labels[-2:]))
        for token in sorted(self._candidates):
            tld = token.rsplit(".", 1)[-1]
            if _kept_domain(token) or token.split(".", 1)[0] in REVERSE_DNS_HEADS or tld.isdigit():
                continue
            labels = token.split(".")
            if token in widened:
                self.add_domain(token)
            elif tld in PRIVATE_TLDS or any(token.endswith("." + d) for d in widened):
                self.add_host(token)
            elif labels[0] in hosts or (len(labels) >= 3 and tld in PUBLIC_TLDS):
                # a known host under a domain seen nowhere else, or any name shaped like an FQDN
                self.add_host(token)
        for lowered, name in list(hosts.items()):
            if "." in lowered:
                short, domain = name.split(".", 1)
                self.add_domain(domain)
                if len(short) >= 2 and short.lower() not in KEEP_HOSTS:
                    self._add(Category.HOST, short)
        self._assign()
        self._compile()

    def _assign(self) -> None:
        originals = {k for per in self._found.values() for k in per}
        taken: set[str] = set()

        def fresh(prefix: str, counter: list[int], fmt: str = "{p}-{n:02d}") -> str:
            while True:
                counter[0] += 1
                alias = fmt.format(p=prefix, n=counter[0])
                if alias.lower() not in originals and alias.lower() not in taken:
                    taken.add(alias.lower())
                    return alias

        def put(lowered: str, alias: str, category: Category) -> None:
            if lowered not in self._aliases:
                self._aliases[lowered] = alias
                self._categories[lowered] = category

        domain_counter = [0]
        # A name known as a host is a host, even where it also stood after an @ (user@vc01.corp).
        domains = set(self._found[Category.DOMAIN]) - set(self._found[Category.HOST])
        for lowered in sorted(domains, key=lambda d: (d.count("."), d)):
            put(lowered, fresh("dom", domain_counter, "{p}-{n:02d}.invalid"), Category.DOMAIN)
        # Providers first: a provider that is also a host name (its certificate names the host)
        # reads as a provider (vp-01, vp-01.dom-01.invalid), not as one more host.
        provider_counter = [0]
        for lowered in sorted(self._found[Category.PROVIDER]):
            put(lowered, fresh("vp", provider_counter), Category.PROVIDER)
        host_counter = [0]
        hosts = self._found[Category.HOST]
        for lowered in sorted(h for h in hosts if "." not in h and h not in self._aliases):
            put(lowered, fresh("host", host_counter), Category.HOST)
        for lowered in sorted(h for h in hosts if "." in h):
            short, domain = lowered.split(".", 1)
            if short not in self._aliases:
                put(short, fresh("host", host_counter), Category.HOST)
            domain_alias = self._aliases.get(domain, domain)
            put(lowered, f"{self._aliases[short]}.{domain_alias}", Category.HOST)
        for category, prefix in (
            (Category.NETBIOS, "ad"),
            (Category.USER, "user"),
            (Category.VM, "vm"),
        ):
            counter = [0]
            for lowered in sorted(self._found[category]):
                if lowered not in self._aliases:
                    put(lowered, fresh(prefix, counter), category)
        ips = self._found[Category.IP]
        by_address: dict[Any, str] = {}
        # every found IP was parsed by add_ip; the filter only tells the type checker so
        parsed = {t: ip for t in ips if (ip := _ip(t)) is not None}
        originals_ip = {str(ip) for ip in parsed.values()}
        index = 0
        for lowered, address in sorted(parsed.items(), key=lambda item: (item[1].version, int(item[1]))):
            if address not in by_address:
                while True:
                    alias = _alias_ipv4(index) if address.version == 4 else f"2001:db8:6::{index + 1:x}"
                    index += 1
                    if alias not in originals_ip:
                        break
                by_address[address] = alias
            put(lowered, by_address[address], Category.IP)
            self._aliases[str(address)] = by_address[address]
            self._categories[str(address)] = Category.IP
            if address.version == 4 and by_address[address].count(".") == 3:
                # ip-10-1-1-10.ec2.internal, esx-10-1-1-10: the dashed spelling names it too
                dashed = str(address).replace(".", "-")
                if dashed not in self._aliases:
                    self._aliases[dashed] = by_address[address].replace(".", "-")
                    self._categories[dashed] = Category.IP

    def _compile(self) -> None:
        # URL-encoded dots (``esx-03%2Ecorp%2Eexample%2Ecom``, ``10%2E1%2E1%2E10``) name the same thing.
        for key, alias in list(self._aliases.items()):
            if "." in key and not key.startswith("."):
                encoded = key.replace(".", "%2e")
                if encoded not in self._aliases:
                    self._aliases[encoded] = alias.replace(".", "%2E")
                    self._categories[encoded] = self._categories[key]
        if not self._aliases:
            self._pattern = None
            return
        keys = sorted(self._aliases, key=lambda k: (-len(k), k))
        body = "|".join(re.escape(k) for k in keys)
        self._pattern = re.compile(f"{_BOUNDARY_BEFORE}(?:{body}){_BOUNDARY_AFTER}", re.IGNORECASE)

    # -- phase two: replacing ----------------------------------------------------------------

    def _replace(self, match: re.Match[str]) -> str:
        text = match.group(0)
        alias = self._aliases.get(text.lower())
        if alias is None:
            address = _ip(text)
            alias = self._aliases.get(str(address)) if address is not None else None
        return alias if alias is not None else text

    def apply(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(self._replace, text)

    def apply_json(self, value: Any) -> Any:
        """Apply to every string (keys too) of a JSON-like value, keeping its structure."""
        if isinstance(value, str):
            return self.apply(value)
        if isinstance(value, dict):
            return {self.apply(str(k)): self.apply_json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.apply_json(v) for v in value]
        return value

    def alias(self, identifier: str) -> str | None:
        return self._aliases.get(identifier.lower())

    def mapping(self) -> dict[str, dict[str, str]]:
        """Original -> alias per category: the key the user keeps to read the package."""
        out: dict[str, dict[str, str]] = {c.value: {} for c in Category}
        listed: set[str] = set()  # one entry per identifier, in the spelling first seen
        for category, found in self._found.items():
            for lowered, original in sorted(found.items()):
                alias = self._aliases.get(lowered)
                named_as = self._categories.get(lowered, category)
                if alias is not None and lowered not in listed:
                    listed.add(lowered)
                    out[named_as.value][original] = alias
        if not self.vm_names:
            del out[Category.VM.value]
        return out

    def originals(self) -> set[str]:
        """Every identifier that will be replaced (lower-cased): what a leak check looks for."""
        return set(self._aliases)


def _csv_row(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)
