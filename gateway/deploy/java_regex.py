"""Java regular expressions (java.util.regex), as Synapse users write them in filter, switch and property
patterns, compiled for Python at deploy time.

Python 3.11 already has possessive quantifiers and atomic groups; what differs is rewritten here, and what
cannot be expressed is a deploy error (never a silently different match)."""

from __future__ import annotations

import re
import warnings

from lxml import etree

from gateway.xmlutil import config_error

_POSIX = {  # \p{Name} → ASCII class contents (Java's defaults without UNICODE_CHARACTER_CLASS)
    "Lower": "a-z", "Upper": "A-Z", "ASCII": "\\x00-\\x7f", "Alpha": "a-zA-Z", "Digit": "0-9",
    "Alnum": "a-zA-Z0-9", "Punct": "!-/:-@\\[-`{-~", "Graph": "!-~", "Print": " -~", "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f", "XDigit": "0-9a-fA-F", "Space": " \\t\\n\\x0b\\f\\r",
}
_UNICODE = {  # the common Unicode categories that have an exact Python spelling
    "L": "[^\\W\\d_]", "IsL": "[^\\W\\d_]", "IsAlphabetic": "[^\\W\\d_]", "IsLetter": "[^\\W\\d_]",
    "Nd": "\\d", "IsDigit": "\\d",
}
_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_VSPACE = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"
_PASS_ESCAPES = set("dDsSwWbBAtnrfa0123456789uN")
_JAVA_FLAGS = {"i": "i", "m": "m", "s": "s", "x": "x", "d": "", "u": "", "U": "u"}
_RE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class JavaRegexError(ValueError):
    pass


def _flags(letters: str) -> str:
    out = []
    for letter in letters:
        if letter not in _JAVA_FLAGS:
            raise JavaRegexError(f"unknown inline flag '{letter}'")
        out.append(_JAVA_FLAGS[letter])
    return "".join(out)


def translate_java_regex(src: str) -> tuple[str, int]:
    """Rewrite a Java regex for Python's `re`; returns (pattern, flags). Raises JavaRegexError."""
    out: list[str] = []
    flags = re.ASCII  # Java's \w \d \s and case folding are ASCII-only unless (?U)
    extra_closes = [0]  # per open group: scoped-flag groups to close with it (Java mid-pattern (?i))
    in_class = False
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if i + 1 >= n:
                raise JavaRegexError("the pattern ends with a lone backslash")
            e = src[i + 1]
            i += 2
            if e == "Q":
                end = src.find("\\E", i)
                literal = src[i:] if end < 0 else src[i:end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
            elif e in "pP":
                if i < n and src[i] == "{":
                    close = src.find("}", i)
                    if close < 0:
                        raise JavaRegexError("unclosed \\p{…} property")
                    name, i = src[i + 1:close], close + 1
                else:
                    name, i = src[i:i + 1], i + 1
                name = name[2:] if name.startswith("Is") and name[2:] in _POSIX else name
                if name in _POSIX:
                    body = _POSIX[name]
                    if in_class:
                        if e == "P":
                            raise JavaRegexError(f"\\P{{{name}}} inside a character class is not supported")
                        out.append(body)
                    else:
                        out.append(f"[{'^' if e == 'P' else ''}{body}]")
                elif name in _UNICODE and not in_class and e == "p":
                    out.append(f"(?u:{_UNICODE[name]})")
                else:
                    raise JavaRegexError(f"the Unicode property \\{e}{{{name}}} is not supported")
            elif e in "hH" or e in "vV":
                body = _HSPACE if e in "hH" else _VSPACE
                if in_class:
                    if e.isupper():
                        raise JavaRegexError(f"\\{e} inside a character class is not supported")
                    out.append(body)
                else:
                    out.append(f"[{'^' if e.isupper() else ''}{body}]")
            elif e == "R":
                if in_class:
                    raise JavaRegexError("\\R inside a character class is not supported")
                out.append(f"(?:\\r\\n|[{_VSPACE}])")
            elif e == "z":
                out.append("\\Z")
            elif e == "Z":
                out.append("(?=\\n?\\Z)")
            elif e == "e":
                out.append("\\x1b")
            elif e == "c":
                if i >= n:
                    raise JavaRegexError("\\c needs a control letter")
                out.append(re.escape(chr(ord(src[i]) ^ 64)))
                i += 1
            elif e == "k":
                match = re.match(r"<([A-Za-z][A-Za-z0-9]*)>", src[i:])
                if not match:
                    raise JavaRegexError("\\k needs a group name: \\k<name>")
                out.append(f"(?P={match.group(1)})")
                i += match.end()
            elif e == "x" and i < n and src[i] == "{":
                close = src.find("}", i)
                try:
                    out.append(re.escape(chr(int(src[i + 1:close], 16))))
                except ValueError:
                    raise JavaRegexError("invalid \\x{…} code point") from None
                i = close + 1
            elif e == "0":
                digits = re.match(r"[0-3]?[0-7]{1,2}", src[i:])
                if not digits:
                    raise JavaRegexError("\\0 must be followed by octal digits")
                out.append(re.escape(chr(int(digits.group(0), 8))))
                i += digits.end()
            elif e == "G":
                raise JavaRegexError("\\G (end of previous match) is not supported")
            elif e == "X":
                raise JavaRegexError("\\X (grapheme cluster) is not supported")
            elif e.isascii() and e.isalpha() and e not in _PASS_ESCAPES and e != "x":
                raise JavaRegexError(f"unknown escape \\{e}")
            else:
                out.append("\\" + e)
            continue
        if in_class:
            if c == "[":
                raise JavaRegexError("nested character classes ([a[b]]) are not supported")
            if c == "&" and src.startswith("&&", i):
                raise JavaRegexError("character class intersection (&&) is not supported")
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a ']' right after '[' or '[^' is a literal in both dialects
            for lead in ("^", "]"):
                if i < n and src[i] == lead:
                    out.append("\\]" if lead == "]" else lead)
                    i += 1
            continue
        if c == "(":
            if src.startswith("(?", i):
                named = re.match(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", src[i:])
                inline = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?\)", src[i:])
                if named:
                    out.append(f"(?P<{named.group(1)}>")
                    i += named.end()
                    extra_closes.append(0)
                    continue
                if inline:
                    on, off = _flags(inline.group(1)), _flags(inline.group(2) or "").replace("u", "")
                    if not out:
                        # leading flags apply to the whole pattern, as in Python
                        if "u" in on:
                            flags &= ~re.ASCII
                        for letter in on.replace("u", ""):
                            flags |= _RE_FLAGS[letter]
                    elif on or off:
                        # Java applies a mid-pattern (?i) up to the end of the enclosing group
                        out.append(f"(?{on}{'-' + off if off else ''}:")
                        extra_closes[-1] += 1
                    i += inline.end()
                    continue
                scoped = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?:", src[i:])
                if scoped and (scoped.group(1) or scoped.group(2)):
                    on, off = _flags(scoped.group(1)), _flags(scoped.group(2) or "").replace("u", "")
                    out.append(f"(?{on}{'-' + off if off else ''}:" if on or off else "(?:")
                    i += scoped.end()
                    extra_closes.append(0)
                    continue
            extra_closes.append(0)
            out.append(c)
            i += 1
            continue
        if c == ")":
            if len(extra_closes) > 1:
                out.append(")" * extra_closes.pop())
            out.append(c)
            i += 1
            continue
        out.append(c)
        i += 1
    if in_class:
        raise JavaRegexError("unclosed character class")
    out.append(")" * extra_closes[0])
    return "".join(out), flags


def compile_java_regex(element: etree._Element, attribute: str, text: str) -> re.Pattern[str]:
    """Compile a Java regex from an attribute at deploy time, or raise a DeployError that says why."""
    try:
        pattern, flags = translate_java_regex(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(pattern, flags)
    except (JavaRegexError, re.error) as exc:
        raise config_error(element, f"invalid regular expression in '{attribute}': '{text}': {exc}",
                           "use java.util.regex syntax without Unicode properties, \\G or nested classes; "
                           "spell those with explicit character classes") from None
