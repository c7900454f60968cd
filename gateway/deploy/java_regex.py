"""Java regular expressions (java.util.regex), as Synapse users write them in filter, switch and property
patterns, compiled at deploy time with the `regex` module.

`regex` (version 1 syntax, Unicode mode) already speaks most of Java's dialect: possessive quantifiers, atomic
groups, nested character classes and `&&`, Unicode properties, `\\G`, named groups, inline flags that last to
the end of their group. What still differs is rewritten here: `\\Q…\\E`; Java's ASCII `\\w \\d \\s \\b` and
POSIX classes (`\\p{Lower}` is `[a-z]`); Java's names of properties, scripts and blocks; `(?i)` folding US-ASCII
letters only unless `(?u)` (spelt out as `[kK]`, so `regex`'s own folding is used only under `(?u)`); `.`, `^`,
`$`, `\\Z` with Java's line terminators; `(?x)`; and class syntax `regex` reads differently (`||`, `--`, `~~`).
What cannot be expressed is a deploy error, never a silently different match: tests/test_java_regex_oracle.py
compares random patterns with a real JVM."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import regex
from lxml import etree

from gateway.xmlutil import config_error

_ASCII = {  # Java's ASCII classes, as members of a `regex` set
    "w": "a-zA-Z0-9_",
    "d": "0-9",
    "s": " \\t\\n\\x0b\\f\\r",
}
_POSIX = {  # \p{Name} without (?U): ASCII only (java.util.regex.CharPredicates.forProperty)
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_CASED = "\\p{Lowercase}\\p{Uppercase}\\p{Lt}"  # what Java's case properties match under (?i)
_UNICODE_POSIX = {  # \p{Name} under (?U), and \p{IsName} (CharPredicates.getPosixPredicate)
    "LOWER": "\\p{Lowercase}",
    "UPPER": "\\p{Uppercase}",
    "ALPHA": "\\p{Alphabetic}",
    "DIGIT": "\\p{Nd}",
    "ALNUM": "\\p{Alphabetic}\\p{Nd}",
    "PUNCT": "\\p{P}",
    "SPACE": "\\p{White_Space}",
    "CNTRL": "\\p{Cc}",
    "GRAPH": "^\\p{White_Space}\\p{Cc}\\p{Cs}\\p{Cn}",
    "PRINT": "^\\p{Zl}\\p{Zp}\\p{Cc}\\p{Cs}\\p{Cn}",
    "BLANK": "\\p{Zs}\\t",
    "XDIGIT": "\\p{Nd}A-Fa-f\\uff21-\\uff26\\uff41-\\uff46",
}
_UNICODE_BINARY = {  # \p{IsName}, upper-cased (CharPredicates.getUnicodePredicate)
    "ALPHABETIC": "\\p{Alphabetic}",
    "ASSIGNED": "\\P{Cn}",
    "CONTROL": "\\p{Cc}",
    "HEXDIGIT": _UNICODE_POSIX["XDIGIT"],
    "HEX_DIGIT": _UNICODE_POSIX["XDIGIT"],
    "IDEOGRAPHIC": "\\p{Ideographic}",
    "JOINCONTROL": "\\p{Join_Control}",
    "JOIN_CONTROL": "\\p{Join_Control}",
    "LETTER": "\\p{L}",
    "LOWERCASE": "\\p{Lowercase}",
    "NONCHARACTERCODEPOINT": "\\p{Noncharacter_Code_Point}",
    "NONCHARACTER_CODE_POINT": "\\p{Noncharacter_Code_Point}",
    "TITLECASE": "\\p{Lt}",
    "PUNCTUATION": "\\p{P}",
    "UPPERCASE": "\\p{Uppercase}",
    "WHITESPACE": "\\p{White_Space}",
    "WHITE_SPACE": "\\p{White_Space}",
    "WORD": "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}",
    "EMOJI": "\\p{Emoji}",
    "EMOJI_PRESENTATION": "\\p{Emoji_Presentation}",
    "EMOJI_MODIFIER": "\\p{Emoji_Modifier}",
    "EMOJI_MODIFIER_BASE": "\\p{Emoji_Modifier_Base}",
    "EMOJI_COMPONENT": "\\p{Emoji_Component}",
    "EXTENDED_PICTOGRAPHIC": "\\p{Extended_Pictographic}",
}
_CATEGORIES = {
    "Cn",
    "Lu",
    "Ll",
    "Lt",
    "Lm",
    "Lo",
    "Mn",
    "Me",
    "Mc",
    "Nd",
    "Nl",
    "No",
    "Zs",
    "Zl",
    "Zp",
    "Cc",
    "Cf",
    "Co",
    "Cs",
    "Pd",
    "Ps",
    "Pe",
    "Pc",
    "Po",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Pi",
    "Pf",
    "L",
    "M",
    "N",
    "Z",
    "C",
    "P",
    "S",
    "LC",
}
_JAVA_METHODS = {  # \p{javaXxx}: java.lang.Character methods that have an exact Unicode spelling
    "javaLowerCase": "\\p{Lowercase}",
    "javaUpperCase": "\\p{Uppercase}",
    "javaTitleCase": "\\p{Lt}",
    "javaAlphabetic": "\\p{Alphabetic}",
    "javaIdeographic": "\\p{Ideographic}",
    "javaDigit": "\\p{Nd}",
    "javaDefined": "\\P{Cn}",
    "javaLetter": "\\p{L}",
    "javaLetterOrDigit": "\\p{L}\\p{Nd}",
    "javaSpaceChar": "\\p{Z}",
    "javaISOControl": "\\x00-\\x1f\\x7f-\\x9f",
    "javaMirrored": "\\p{Bidi_Mirrored}",
    "javaWhitespace": "\\t-\\r\\x1c-\\x1f\\p{Z}--[\\xa0\\u2007\\u202f]",
}
_CASE_PROPERTIES = {
    "Lu",
    "Ll",
    "Lt",
    "LOWERCASE",
    "UPPERCASE",
    "TITLECASE",
    "javaLowerCase",
    "javaUpperCase",
    "javaTitleCase",
    "LOWER",
    "UPPER",
}
_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_VSPACE = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"
_TERMINATORS = "\\n\\r\\x85\\u2028\\u2029"  # Java's line terminators (only \n under (?d))
_JAVA_SPACE = " \t\n\x0b\f\r"  # what (?x) skips
_FLAGS = set("idmsxuU")


class JavaRegexError(ValueError):
    pass


def _quote_literals(src: str) -> str:
    """Java first rewrites \\Q…\\E as escaped characters (Pattern.RemoveQEQuoting); so do we."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        if src.startswith("\\Q", i):
            end = src.find("\\E", i + 2)
            quoted = src[i + 2 :] if end < 0 else src[i + 2 : end]
            out.extend(c if c.isalpha() or not c.isascii() else f"\\x3{c}" if c.isdigit() else "\\" + c for c in quoted)
            i = n if end < 0 else end + 2
        elif src[i] == "\\":
            out.append(src[i : i + 2])
            i += 2
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def _literal(char: str) -> str:
    return char if char.isalnum() or not char.isascii() else "\\" + char


@dataclass
class _Member:
    """One item of a character class, spelt as a member of a `regex` set."""

    text: str
    ascii_class: bool = False  # \w, \d, \s or a POSIX class: ASCII, and never case-folded in Java


@dataclass
class _Translator:
    src: str
    unicode_case: bool = False  # (?u) or (?U) at the start: Unicode case folding for the whole pattern
    unicode_classes: bool = False  # (?U): \w, \d, \s, POSIX classes are Unicode
    pos: int = 0
    out: list[str] = field(default_factory=list)
    frames: list[set[str]] = field(default_factory=lambda: [set()])  # Java flags on, per open group
    groups: int = 0
    names: set[str] = field(default_factory=set)

    def error(self, message: str) -> JavaRegexError:
        return JavaRegexError(f"{message} (at {self.pos})")

    @property
    def flags(self) -> set[str]:
        return self.frames[-1]

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.src[index] if index < len(self.src) else ""

    def skip_comments(self) -> None:
        while "x" in self.flags and self.pos < len(self.src):
            if self.peek() in _JAVA_SPACE:
                self.pos += 1
            elif self.peek() == "#":
                while self.pos < len(self.src) and self.peek() not in "\n\r":
                    self.pos += 1
            else:
                return

    # -- outside character classes ---------------------------------------------------------------------
    def translate(self) -> str:
        self.leading_flags()
        while True:
            self.skip_comments()
            if self.pos >= len(self.src):
                break
            c = self.peek()
            self.pos += 1
            if c == "\\":
                self.out.append(self.escape())
            elif c == "[":
                self.out.append(self.character_class())
            elif c == "(":
                self.group()
            elif c == ")":
                if len(self.frames) == 1:
                    raise self.error("unmatched closing ')'")
                self.frames.pop()
                self.out.append(")")
            elif c == "{":
                self.repetition()
            elif c == ".":
                self.out.append("(?s:.)" if "s" in self.flags else "." if "d" in self.flags else f"[^{_TERMINATORS}]")
            elif c == "^":
                self.out.append(self.caret())
            elif c == "$":
                self.out.append(self.dollar("m" in self.flags))
            elif c in "|?*+":
                self.out.append(c)  # metacharacters both dialects share
            else:
                self.out.append(self.literal_atom(c))
        if len(self.frames) > 1:
            raise self.error("unclosed group")
        return "".join(self.out)

    def leading_flags(self) -> None:
        """(?u) and (?U) change case folding and classes for the whole pattern: only at its start."""
        found = regex.match(r"\(\?([a-zA-Z]*)(?:-[a-zA-Z]*)?\)", self.src)
        if found and set(found.group(1)) & {"u", "U"}:
            self.unicode_case = True
            self.unicode_classes = "U" in found.group(1)
            on = found.group(1).replace("u", "").replace("U", "")
            self.src = "(?" + on + self.src[found.end(1) :]

    def repetition(self) -> None:
        found = regex.match(r"(\d+)(,\d*)?\}", self.src[self.pos :])
        if not found:
            raise self.error("illegal repetition: '{' must start {n}, {n,} or {n,m}")
        self.out.append("{" + found.group(0))
        self.pos += found.end()

    def caret(self) -> str:
        if "m" not in self.flags:
            return "^"
        after = "\\n" if "d" in self.flags else "[\\n\\x85\\u2028\\u2029]|\\r(?!\\n)"
        return f"(?:(?:\\A|(?<={after}))(?=(?s:.)))"  # Java: never at the very end, not inside \r\n

    def dollar(self, multiline: bool) -> str:
        if "d" in self.flags:
            return "(?m:$)" if multiline else "$"
        if multiline:
            return f"(?:(?=[{_TERMINATORS}]|\\z)(?!(?<=\\r)\\n))"
        return f"(?:(?=(?:\\r\\n|[{_TERMINATORS}])?\\z)(?!(?<=\\r)\\n))"

    def group(self) -> None:
        if self.peek() == "*":
            raise self.error("dangling metacharacter '*'")
        if self.peek() != "?":
            self.groups += 1
            self.frames.append(set(self.flags))
            self.out.append("(")
            return
        rest = self.src[self.pos + 1 :]
        named = regex.match(r"<([A-Za-z][A-Za-z0-9]*)>", rest)
        plain = regex.match(r"(?::|=|!|>|<=|<!)", rest)
        flags = regex.match(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
        if named:
            if named.group(1) in self.names:
                raise self.error(f"the group name '{named.group(1)}' is already defined")
            self.names.add(named.group(1))
        if named or plain:
            self.groups += 1 if named else 0
            self.frames.append(set(self.flags))
            self.out.append("(?" + (named or plain).group(0))
            self.pos += 1 + (named or plain).end()
            return
        if not flags:
            raise self.error("unknown group construct '(?'")
        on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
        for letter in on + off:
            if letter not in _FLAGS:
                raise self.error(f"unknown inline flag '{letter}'")
            if letter in "uU":
                raise self.error(f"(?{letter}) is supported only at the start of the pattern")
        self.pos += 1 + flags.end()
        new = (set(self.flags) | set(on)) - set(off)
        case = "" if ("i" in new) == ("i" in self.flags) or not self.unicode_case else "i" if "i" in new else "-i"
        if end == ")":
            self.frames[-1] = new
            self.out.append(f"(?{case})" if case else "")
            self.skip_comments()
            if self.peek() and self.peek() in "*+?{":
                raise self.error("a quantifier after an inline flag group has nothing to repeat")
        else:
            self.frames.append(new)
            self.out.append(f"(?{case}:")

    def escape(self) -> str:
        if self.pos >= len(self.src):
            raise self.error("the pattern ends with a lone backslash")
        e = self.peek()
        if e in "wWdDsS":
            self.pos += 1
            if self.unicode_classes:
                return self.unfolded("\\" + e)
            return self.unfolded(f"[{'^' if e.isupper() else ''}{_ASCII[e.lower()]}]")
        if e in "bB":
            self.pos += 1
            if self.src.startswith("{g}", self.pos):
                raise self.error("\\b{g} (grapheme boundary) is not supported")
            if self.unicode_classes:
                return self.unfolded("\\" + e)
            word = f"[{_ASCII['w']}]"  # JDK 19+: \b is the edge of \w (older JDKs used Unicode letters)
            edge = (
                f"(?<={word})(?!{word})|(?<!{word})(?={word})"
                if e == "b"
                else f"(?<={word})(?={word})|(?<!{word})(?!{word})"
            )
            return self.unfolded(f"(?:{edge})")
        if e in "pP":
            return self.atom(self.property_member())
        if e in "hHvV":
            self.pos += 1
            return f"[{'^' if e.isupper() else ''}{_HSPACE if e in 'hH' else _VSPACE}]"
        if e in "AGz":
            self.pos += 1
            return "\\" + e
        if e == "Z":
            self.pos += 1
            return self.dollar(multiline=False)
        if e == "R":
            self.pos += 1
            return f"(?:\\r\\n|[{_VSPACE}])"
        if e == "k":
            found = regex.match(r"k<([A-Za-z][A-Za-z0-9]*)>", self.src[self.pos :])
            if not found:
                raise self.error("\\k needs a group name: \\k<name>")
            if found.group(1) not in self.names:
                raise self.error(f"no group named '{found.group(1)}' before \\k<{found.group(1)}>")
            self.pos += found.end()
            return self.backreference_to(found.group(1))
        if e in "123456789":
            number = int(e)  # Java takes more digits only while such a group exists
            self.pos += 1
            while self.peek().isdigit() and number * 10 + int(self.peek()) <= self.groups:
                number = number * 10 + int(self.peek())
                self.pos += 1
            return self.backreference_to(str(number))
        return self.literal_atom(self.char_escape())

    def backreference_to(self, group: str) -> str:
        if self.ascii_folding:
            raise self.error(
                "a backreference under (?i) compares US-ASCII letters only in Java, which `regex` "
                "cannot; start the pattern with (?iu) for Unicode case folding"
            )
        return f"(?:\\g<{group}>)"

    def literal_atom(self, char: str) -> str:
        if self.ascii_folding and char.isascii() and char.isalpha():
            return f"[{char}{char.swapcase()}]"  # Java's (?i) without (?u) folds US-ASCII letters only
        escaped: str = regex.escape(char, special_only=True)
        return escaped

    @property
    def ascii_folding(self) -> bool:
        """(?i) without (?u): Java folds US-ASCII letters only; `regex`'s own (Unicode) folding stays off."""
        return "i" in self.flags and not self.unicode_case

    def unfolded(self, text: str) -> str:
        """Java never case-folds \\w, \\d, \\s, \\b, POSIX classes or properties (family() spells out the
        case properties it widens under (?i)); `regex` folds only under (?iu)."""
        return f"(?-i:{text})" if self.unicode_case and "i" in self.flags else text

    def char_escape(self) -> str:
        """One character after a backslash: \\t, \\x41, \\u00e9, \\0101, \\cA, \\N{NAME}, or a non-letter."""
        e = self.peek()
        self.pos += 1
        simple = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "a": "\a", "e": "\x1b"}
        if e in simple:
            return simple[e]
        patterns = {
            "x": r"\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2})",
            "u": r"([0-9a-fA-F]{4})",
            "0": r"([0-3]?[0-7]{1,2})",
            "c": r"(.)",
            "N": r"\{([^}]+)\}",
        }
        if e in patterns:
            found = regex.match(patterns[e], self.src[self.pos :], flags=regex.DOTALL)
            if not found:
                raise self.error(f"malformed escape \\{e}")
            self.pos += found.end()
            text = found.group(1) or found.group(2)
            try:
                if e == "c":
                    return chr(ord(text) ^ 64)
                if e == "N":
                    return unicodedata.lookup(text)
                char = chr(int(text, 8 if e == "0" else 16))
            except (KeyError, ValueError, OverflowError):
                raise self.error(f"malformed escape \\{e}") from None
            low = regex.match(r"\\u(d[c-f][0-9a-f]{2})", self.src[self.pos :], flags=regex.IGNORECASE)
            if e == "u" and "\ud800" <= char <= "\udbff" and low:  # Java joins a surrogate pair
                self.pos += low.end()
                return chr(0x10000 + ((ord(char) - 0xD800) << 10) + int(low.group(1), 16) - 0xDC00)
            return char
        if e.isascii() and e.isalpha():
            if e == "X":
                raise self.error("\\X (grapheme cluster) is not supported")
            raise self.error(f"unknown escape \\{e}")
        return e

    def atom(self, member: _Member) -> str:
        """A class member outside a class (member texts of properties are sets already: [[a-z]] is fine)."""
        return self.unfolded(f"[{member.text}]")

    # -- properties ---------------------------------------------------------------------------------------
    def property_member(self) -> _Member:
        negated = self.peek() == "P"
        self.pos += 1
        if self.peek() == "{":
            close = self.src.find("}", self.pos)
            if close < 0:
                raise self.error("unclosed \\p{…} property")
            name, self.pos = self.src[self.pos + 1 : close], close + 1
        else:
            name, self.pos = self.peek(), self.pos + 1
        member = self.family(name)
        if not member:
            raise self.error(f"unknown character property \\{'P' if negated else 'p'}{{{name}}}")
        member.text = f"[^[{member.text}]]" if negated else f"[{member.text}]"
        return member

    def family(self, name: str) -> _Member | None:
        """java.util.regex.Pattern.family: \\p{name} as a `regex` set member, or None when Java knows no such name."""
        folded = "i" in self.flags
        if "=" in name:
            key, value = name.split("=", 1)
            key = key.lower()
            if key in ("sc", "script", "blk", "block"):
                kind = "Script" if key in ("sc", "script") else "Block"
                return self.checked(f"\\p{{{kind}={value}}}")
            if key in ("gc", "general_category"):
                return self.java_property(value, folded)
            return None
        if name.startswith("In"):
            return self.checked(f"\\p{{Block={name[2:]}}}")
        if name.startswith("Is"):
            short = name[2:]
            upper = short.upper()
            if upper in _UNICODE_BINARY or upper in _UNICODE_POSIX:
                text = (
                    _CASED
                    if folded and upper in _CASE_PROPERTIES
                    else _UNICODE_BINARY.get(upper) or _UNICODE_POSIX[upper]
                )
                return _Member(text)
            return self.java_property(short, folded) or self.checked(f"\\p{{Script={short}}}")
        if self.unicode_classes and name.upper() in _UNICODE_POSIX:
            upper = name.upper()
            return _Member(_CASED if folded and upper in _CASE_PROPERTIES else _UNICODE_POSIX[upper])
        return self.java_property(name, folded)

    @staticmethod
    def java_property(name: str, folded: bool) -> _Member | None:
        """CharPredicates.forProperty: categories, ASCII POSIX classes, java.lang.Character methods."""
        if name in _POSIX:
            text = "a-zA-Z" if folded and name in ("Lower", "Upper") else _POSIX[name]
            return _Member(text, ascii_class=True)
        if folded and name in _CASE_PROPERTIES:
            return _Member("\\p{LC}" if name in _CATEGORIES else _CASED)
        if name in _CATEGORIES:
            return _Member(f"\\p{{{name}}}")
        special = {"LD": "\\p{L}\\p{Nd}", "L1": "\\x00-\\xff", "all": "\\x00-\\U0010ffff", **_JAVA_METHODS}
        if name in special:
            return _Member(special[name])
        return None

    @staticmethod
    def checked(text: str) -> _Member | None:
        try:
            regex.compile(text)
        except regex.error:
            return None
        return _Member(text)

    # -- character classes ----------------------------------------------------------------------------------
    def character_class(self) -> str:
        """Java's class grammar (Pattern.clazz) as a `regex` V1 set; every literal is escaped."""
        members = self.class_body()  # under (?i) without (?u), class_item spells out both cases
        texts = {member.text for member in members}
        if "^" in texts and any(
            f"[^{text}]" in texts or text.swapcase() in texts - {text} for text in texts if text.startswith(("[", "\\"))
        ):
            # e.g. [^\p{L}\P{L}], which matches nothing: `regex` matches everything with it
            raise self.error("a negated class holding a property and its complement never matches; remove it")
        if self.unicode_case and "i" in self.flags:
            if any(member.ascii_class for member in members):
                raise self.error(
                    "with (?iu), \\w, \\d, \\s and POSIX classes inside […] cannot keep Java's "
                    "ASCII meaning; use (?U) or list the characters"
                )
            if any(m.text == "&&" for m in members) and any("[^" in m.text for m in members):
                # Java folds each member before the set operations; `regex` folds while matching
                raise self.error(
                    "with (?iu), '&&' next to a negated class cannot keep Java's meaning; "
                    "spell the class without the negation"
                )
        return "".join(member.text for member in members)

    def class_body(self) -> list[_Member]:
        members = [_Member("[")]
        self.skip_comments()
        if self.peek() == "^":
            members.append(_Member("^"))
            self.pos += 1
        operand = 0  # members of the current operand of &&
        intersected = False
        while True:
            self.skip_comments()
            c = self.peek()
            if not c:
                raise self.error("unclosed character class")
            if c == "]" and (operand or intersected):  # Java: a ']' before any member is a literal
                if not operand:
                    raise self.error("'&&' needs a class on both sides")
                self.pos += 1
                members.append(_Member("]"))
                return members
            if c == "&" and (self.peek(1) == "&" or intersected):
                if not operand or self.peek(1) != "&":  # Java reads a lone '&' after '&&' unpredictably
                    raise self.error("'&&' needs a class on both sides; write a literal '&' as \\&")
                self.pos += 2
                members.append(_Member("&&"))
                operand, intersected = 0, True
                continue
            if c == "[":
                self.pos += 1
                nested = self.class_body()
                members.append(_Member("".join(m.text for m in nested), any(m.ascii_class for m in nested)))
            else:
                members.append(self.class_item())
            operand += 1

    def class_item(self) -> _Member:
        first = self.class_char()
        if isinstance(first, _Member):
            return first
        self.skip_comments()
        if self.peek() == "-" and self.peek(1) not in ("]", "[", ""):
            self.pos += 1
            self.skip_comments()
            last = self.class_char(range_end=True)
            if isinstance(last, _Member):
                raise self.error("a range cannot end with a class")
            if last < first:
                raise self.error(f"illegal character range {first!r}-{last!r}")
            text = f"{_literal(first)}-{_literal(last)}"
            if self.ascii_folding:
                for low, high in (("a", "z"), ("A", "Z")):
                    start, end = max(first, low), min(last, high)
                    if start <= end:
                        text += f"{start.swapcase()}-{end.swapcase()}"
            return _Member(text)
        if self.ascii_folding and first.isascii() and first.isalpha():
            return _Member(first + first.swapcase())
        return _Member(_literal(first))

    def class_char(self, range_end: bool = False) -> str | _Member:
        c = self.peek()
        self.pos += 1
        if c != "\\":
            return c
        e = self.peek()
        if not e:
            raise self.error("unclosed character class")
        if e == "v" and (range_end or self.peek(1) == "-"):
            self.pos += 1
            return "\x0b"  # Java: in a range \v is still the vertical tab of Java 7
        if e in "wWdDsS":
            self.pos += 1
            if self.unicode_classes:
                return _Member("\\" + e)
            body = _ASCII[e.lower()]
            return _Member(f"[^{body}]" if e.isupper() else body, ascii_class=True)
        if e in "hHvV":
            self.pos += 1
            body = _HSPACE if e in "hH" else _VSPACE
            return _Member(f"[^{body}]" if e.isupper() else body)
        if e in "pP":
            return self.property_member()
        if e in "123456789bBAGzZRk":
            raise self.error(f"\\{e} is not allowed inside a character class")
        return self.char_escape()


def translate_java_regex(src: str) -> tuple[str, int]:
    """Rewrite a Java regex for the `regex` module; returns (pattern, flags). Raises JavaRegexError."""
    translator = _Translator(_quote_literals(src) if "\\Q" in src else src)
    pattern = translator.translate()
    # under (?u), Java folds case per character (no ß = SS)
    return "(?-f)" + pattern, regex.V1


def compile_java_regex(element: etree._Element, attribute: str, text: str) -> regex.Pattern[str]:
    """Compile a Java regex from an attribute at deploy time, or raise a DeployError that says why."""
    try:
        pattern, flags = translate_java_regex(text)
        return regex.compile(pattern, flags)
    except (JavaRegexError, regex.error) as exc:
        reason = str(exc)
    except Exception as exc:  # `regex` fails on a few odd sets (one that holds every character)
        reason = f"the regex module cannot compile it ({type(exc).__name__}: {exc})"
    raise config_error(
        element,
        f"invalid regular expression in '{attribute}': '{text}': {reason}",
        "use java.util.regex syntax; \\X, \\b{g} and (?u) after the start are not supported",
    )
