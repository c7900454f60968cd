"""filter and switch over real HTTP: full-match regexes, null sources, XPath and JSONPath conditions,
then/else and sequence keys, flow continuation, the Java regex dialect and deploy errors (§5.4)."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
FAULT = (
    '<faultSequence><property name="HTTP_SC" value="500" scope="axis2"/>'
    '<header name="X-Err" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
    "<respond/></faultSequence>"
)


def proxy(in_sequence: str, name: str = "P") -> dict[str, str]:
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{in_sequence}</inSequence>'
        f"{FAULT}</target></proxy>"
    }


def mark(value: str, header: str = "X-Branch") -> str:
    return f'<header name="{header}" scope="transport" value="{value}"/>'


async def post(
    client, body: bytes = b"<a/>", ctype: str = "application/xml", path: str = "/services/P", **headers: str
):
    return await client.post(path, data=body, headers={"Content-Type": ctype, **headers})


async def branch_for(client, **headers: str) -> str:
    response = await post(client, **headers)
    assert response.status == 200, response.headers.get("X-Err")
    return response.headers["X-Branch"]


# -- filter ---------------------------------------------------------------------------------------


async def test_filter_regex_is_a_full_match(gateway):
    client = await gateway(
        {
            **proxy(
                f'<filter source="$trp:X-Sym" regex="IB"><then>{mark("then")}</then>'
                f"<else>{mark('else')}</else></filter><respond/>"
            ),
            **proxy(
                f'<filter source="$trp:X-Sym" regex="IB.*"><then>{mark("then")}</then>'
                f"<else>{mark('else')}</else></filter><respond/>",
                name="Prefix",
            ),
        }
    )
    assert await branch_for(client, **{"X-Sym": "IBM"}) == "else"  # "IB" does not match all of "IBM"
    assert await branch_for(client, **{"X-Sym": "IB"}) == "then"
    response = await post(client, path="/services/Prefix", **{"X-Sym": "IBM"})
    assert response.headers["X-Branch"] == "then"


async def test_filter_null_source_is_false_even_for_a_match_all_regex(gateway):
    client = await gateway(
        proxy(
            f'<filter source="get-property(\'unset\')" regex=".*"><then>{mark("then")}'
            f"</then><else>{mark('else')}</else></filter>"
            f'<filter source="$trp:X-Empty" regex=".*">'
            f"<then>{mark('then', 'X-Empty-Branch')}</then></filter><respond/>"
        )
    )
    response = await post(client, **{"X-Empty": ""})
    assert response.headers["X-Branch"] == "else"  # null is not ""
    assert response.headers["X-Empty-Branch"] == "then"  # an empty header is "" and matches .*
    missing = await post(client)
    assert "X-Empty-Branch" not in missing.headers  # a missing header is null: false


async def test_filter_xpath_over_a_json_body(gateway):
    client = await gateway(
        proxy(
            f'<filter xpath="//symbol"><then>{mark("has-symbol")}</then>'
            f"<else>{mark('no-symbol')}</else></filter>"
            f"<filter xpath=\"//symbol = 'IBM'\">{mark('ibm', 'X-Ibm')}</filter>"
            "<respond/>"
        )
    )
    ibm = await post(client, b'{"symbol":"IBM"}', "application/json")
    assert (ibm.headers["X-Branch"], ibm.headers["X-Ibm"]) == ("has-symbol", "ibm")
    other = await post(client, b'{"name":"x"}', "application/json")
    assert other.headers["X-Branch"] == "no-symbol"
    assert "X-Ibm" not in other.headers


async def test_filter_json_eval_condition_is_true_only_for_the_string_true(gateway):
    client = await gateway(
        proxy(
            f'<filter xpath="json-eval($.flag)"><then>{mark("then")}</then>'
            f"<else>{mark('else')}</else></filter><respond/>"
        )
    )
    results = []
    for body in (b'{"flag":true}', b'{"flag":"TRUE"}', b'{"flag":"yes"}', b'{"flag":1}', b'{"other":1}'):
        response = await post(client, body, "application/json")
        results.append(response.headers["X-Branch"])
    assert results == ["then", "then", "else", "else", "else"]


async def test_filter_then_and_else_sequence_keys_and_a_missing_one(gateway):
    client = await gateway(
        {
            "sequences/onMatch.xml": f'<sequence {S} name="onMatch">{mark("onMatch")}</sequence>',
            "sequences/onMiss.xml": f'<sequence {S} name="onMiss">{mark("onMiss")}</sequence>',
            **proxy(
                '<filter source="$trp:X-K" regex="yes"><then sequence="onMatch"/><else sequence="onMiss"/>'
                "</filter><respond/>"
            ),
            **proxy(
                '<filter source="$trp:X-K" regex="yes"><then sequence="notDeployed"/></filter><respond/>',
                name="Missing",
            ),
        }
    )
    assert await branch_for(client, **{"X-K": "yes"}) == "onMatch"
    assert await branch_for(client, **{"X-K": "no"}) == "onMiss"
    missing = await post(client, path="/services/Missing", **{"X-K": "yes"})
    assert missing.status == 500
    assert missing.headers["X-Err"] == "Couldn't find the referred then sequence with key : notDeployed"
    unmatched = await post(client, path="/services/Missing", **{"X-K": "no"})
    assert unmatched.status == 200  # the missing key only matters when that branch runs


async def test_filter_without_else_continues_and_a_stopping_branch_stops_the_flow(gateway):
    client = await gateway(proxy(f'<filter source="$trp:X-Stop" regex="yes"><drop/></filter>{mark("after")}<respond/>'))
    passed = await post(client, **{"X-Stop": "no"})
    assert passed.status == 200
    assert passed.headers["X-Branch"] == "after"  # an unmatched filter with no else continues
    stopped = await post(client, **{"X-Stop": "yes"})
    assert stopped.status == 202  # the branch dropped: nothing after the filter ran
    assert "X-Branch" not in stopped.headers


async def full_matches(gateway, cases: list[tuple[str, str, bool]]) -> None:
    """Each (Java regex, value, Java's Matcher.matches() result) through a real filter (JSON keeps every
    character of the value, CR included)."""
    filters = "".join(
        f'<filter source="json-eval($.v{i})" regex="{escape(regex, {chr(34): "&quot;"})}">'
        f"{mark('1', f'X-M{i}')}</filter>"
        for i, (regex, _, _) in enumerate(cases)
    )
    client = await gateway(proxy(filters + "<respond/>"))
    body = json.dumps({f"v{i}": value for i, (_, value, _) in enumerate(cases)})
    response = await post(client, body.encode(), "application/json")
    assert response.status == 200, response.headers.get("X-Err")
    wrong = [
        (regex, value, expected)
        for i, (regex, value, expected) in enumerate(cases)
        if (f"X-M{i}" in response.headers) is not expected
    ]
    assert not wrong


async def test_java_regex_dialect_is_translated(gateway):
    await full_matches(
        gateway,
        [
            (r"\p{Alpha}+", "abc", True),
            (r"\p{Alpha}+", "ab1", False),
            (r"[\p{Digit}_]+", "1_2", True),
            (r"(?i)ibm", "IBM", True),
            (r"a(?i)bc", "aBC", True),
            (r"a(?i)bc", "ABC", False),
            (r"\d+", "١٢", False),  # Java's \d is ASCII-only
            (r"\w+", "é", False),
            (r"\p{L}+", "é", True),
            (r"(?<y>\d{4})-\k<y>", "2024-2024", True),
            (r"\Q1+1\E", "1+1", True),
            (r"a*+a", "aaa", False),  # possessive: nothing is given back
            (r"[^]x]+", "ab", True),
            (r"a\h+b", "a\u2003\tb", True),
            (r"x\z", "x", True),
        ],
    )


async def test_java_regex_unicode_properties_and_class_set_operations(gateway):
    # Pattern's documentation: categories, scripts (Is), blocks (In), binary properties; classes nest (union)
    # and intersect with &&; case-insensitive \p{Lu} matches any cased letter (CharPredicates.forProperty)
    await full_matches(
        gateway,
        [
            (r"\p{Lu}+", "ÉA", True),
            (r"\p{Lu}+", "Éa", False),
            (r"\P{Lu}+", "éa", True),
            (r"(?i)\p{Lu}+", "éa", True),
            (r"\p{IsGreek}+", "αβ", True),
            (r"\p{InGreek}", "α", True),
            (r"\p{IsLatin}", "α", False),
            (r"\p{IsAlphabetic}+", "éⅣ", True),
            (r"\p{javaLowerCase}", "é", True),
            (r"\p{IsLower}", "é", True),  # the Is form is Unicode; the bare POSIX \p{Lower} is ASCII
            (r"\p{Lower}", "é", False),
            (r"(?U)\p{Lower}", "é", True),
            (r"(?U)\w+", "é1", True),
            (r"[a-z&&[^b]]+", "ac", True),
            (r"[a-z&&[^b]]+", "abc", False),
            (r"[^a-z&&[^b]]", "b", True),
            (r"[a[0-9]]+", "a5", True),
            (r"[\w&&[^\d]]+", "a_", True),
            (r"[\w&&[^\d]]+", "a1", False),
            (r"[\p{L}&&[^\p{IsLatin}]]+", "αβ", True),
            (r"[\p{L}&&[^\p{IsLatin}]]+", "αb", False),
            (r"[[:alpha:]]+", ":alph", True),
            (r"[[:alpha:]]", "b", False),  # Java: a nested class of literals
            (r"[a||b]", "|", True),
            (r"[+--]", ",", True),  # literals and ranges, not `regex` set operators
        ],
    )


async def test_switch_and_property_pattern_take_the_java_dialect(gateway):
    client = await gateway(
        proxy(
            '<switch source="json-eval($.code)"><case regex="[\\p{IsGreek}&amp;&amp;\\p{Lu}]+">'
            f'{mark("greek-upper")}</case><case regex="\\p{{IsGreek}}+">{mark("greek")}</case>'
            f"<default>{mark('other')}</default></switch>"
            '<property name="initials" expression="json-eval($.code)" pattern="(\\p{Lu}+)\\p{Ll}*" group="1"/>'
            '<header name="X-Initials" scope="transport" expression="get-property(\'initials\')"/><respond/>'
        )
    )
    branches = {}
    for code in ("ΑΒΓ", "Αβγ", "Abc"):
        response = await post(client, json.dumps({"code": code}).encode(), "application/json")
        assert response.status == 200, response.headers.get("X-Err")
        branches[code] = (response.headers["X-Branch"], response.headers.get("X-Initials"))
    assert branches == {"ΑΒΓ": ("greek-upper", "ΑΒΓ"), "Αβγ": ("greek", "Α"), "Abc": ("other", "A")}


async def test_java_regex_case_folding_lines_and_flags(gateway):
    # Without UNICODE_CASE, CASE_INSENSITIVE folds US-ASCII only; `.`, `$` and \Z know Java's line terminators
    # (\n, \r\n, \r, \u0085, \u2028, \u2029); COMMENTS ignores whitespace and #comments, in classes too
    await full_matches(
        gateway,
        [
            (r"(?i)é", "É", False),
            (r"(?iu)é", "É", True),
            (r"(?i)k", "\u212a", False),
            (r"(?iu)k", "\u212a", True),
            (r"(?iu)\w", "\u212a", False),
            (r"(?iu)ß", "SS", False),
            (r".", "\r", False),
            (r".", "\u2028", False),
            (r"(?s).", "\r", True),
            (r"(?d).", "\r", True),
            (r"a$\r", "a\r", True),
            (r"a\Z\r\n", "a\r\n", True),
            (r"a\z\n", "a\n", False),
            (r"(?x) a b # comment", "ab", True),
            (r"(?x)[a b]", " ", False),
            (r"(?x)a\ b", "a b", True),
            (r"\Gab", "ab", True),
            (r"\uD83D\uDE00", "\U0001f600", True),
            (r"(a)\12", "aa2", True),
        ],
    )


async def test_java_regex_cases_the_java_oracle_found(gateway):
    # differences tests/test_java_regex_oracle.py found against java.util.regex, now matching as in Java
    await full_matches(
        gateway,
        [
            (r"(?i)Z*\p{L}{3}", "Ébé", True),
            (r"(?i)[\p{Lu}a]", "É", True),  # `regex` folds badly in ASCII mode
            (r"(?i)\p{javaLowerCase}", "\u212a", True),  # case-insensitive: any cased letter
            (r"(?i)[^A&&[t[^a]]]", "A", True),  # Java folds each member first, then intersects
            (r"(?m)a^?b", "ab", True),  # a quantifier after ^ applies to all of it
            (r"[\v-a]", " ", True),  # before '-', \v is the vertical tab (a range \x0b-a)
        ],
    )


async def test_conditions_on_transport_headers_never_parse_the_body(gateway):
    client = await gateway(
        proxy(
            f'<filter source="$trp:X-K" regex="a"><then>{mark("then")}</then></filter>'
            f'<switch source="$trp:X-K"><case regex="a">{mark("case", "X-Case")}</case>'
            "</switch><respond/>"
        )
    )
    broken = b'{"never": parsed'
    response = await post(client, broken, "application/json", **{"X-K": "a"})
    assert response.status == 200
    assert (response.headers["X-Branch"], response.headers["X-Case"]) == ("then", "case")
    assert await response.read() == broken


# -- switch ---------------------------------------------------------------------------------------

SWITCH = (
    f'<switch source="$trp:X-Sym"><case regex="I.*">{mark("I-any")}</case>'
    f'<case regex="IBM">{mark("IBM")}</case><case regex="MS">{mark("MS")}</case>'
    f"<default>{mark('default')}</default></switch>"
    f"{mark('after', 'X-After')}<respond/>"
)


async def test_switch_first_full_match_wins_then_default_and_the_flow_continues(gateway):
    client = await gateway(proxy(SWITCH))
    assert await branch_for(client, **{"X-Sym": "IBM"}) == "I-any"  # the first matching case wins
    assert await branch_for(client, **{"X-Sym": "MSFT"}) == "default"  # "MS" must match all of "MSFT"
    response = await post(client, **{"X-Sym": "MS"})
    assert (response.headers["X-Branch"], response.headers["X-After"]) == ("MS", "after")


async def test_switch_null_source_and_no_cases_go_to_default(gateway):
    client = await gateway(
        {
            **proxy(
                f'<switch source="get-property(\'unset\')"><case regex=".*">{mark("case")}</case>'
                f"<default>{mark('default')}</default></switch><respond/>"
            ),
            **proxy(
                f'<switch source="$trp:X-Sym"><default>{mark("only-default")}</default></switch><respond/>',
                name="NoCases",
            ),
            **proxy(
                f'<switch source="$trp:X-Sym"><case regex="A">{mark("A")}</case></switch>{mark("after")}<respond/>',
                name="NoDefault",
            ),
        }
    )
    assert await branch_for(client) == "default"
    no_cases = await post(client, path="/services/NoCases", **{"X-Sym": "x"})
    assert no_cases.headers["X-Branch"] == "only-default"
    no_default = await post(client, path="/services/NoDefault", **{"X-Sym": "B"})
    assert no_default.headers["X-Branch"] == "after"


async def test_switch_on_a_json_body_and_a_stopping_case(gateway):
    client = await gateway(
        proxy(
            '<switch source="json-eval($.op)"><case regex="stop"><drop/></case>'
            f'<case regex="go">{mark("go")}</case></switch>{mark("after", "X-After")}'
            "<respond/>"
        )
    )
    go = await post(client, b'{"op":"go"}', "application/json")
    assert (go.status, go.headers["X-Branch"], go.headers["X-After"]) == (200, "go", "after")
    stop = await post(client, b'{"op":"stop"}', "application/json")
    assert stop.status == 202


# -- deploy errors --------------------------------------------------------------------------------


def test_deploy_errors(tmp_path, capsys):
    cases = {
        "NoRegex": '<filter source="//a"><drop/></filter>',
        "NoCondition": "<filter><drop/></filter>",
        "BothConditions": '<filter xpath="//a" source="//a" regex="x"/>',
        "BadXPath": '<filter xpath="//a["/>',
        "BadRegex": '<filter source="//a" regex="(x"/>',
        "UnknownProperty": '<filter source="//a" regex="\\p{Latin}+"/>',
        "EmptyIntersection": '<filter source="//a" regex="[a-z&amp;&amp;]"/>',
        "LateUnicodeFlag": '<filter source="//a" regex="a(?U)\\w"/>',
        "FoldedBackreference": '<filter source="//a" regex="(?i)(a)\\1"/>',
        "NeverMatches": '<filter source="//a" regex="[^\\p{L}\\P{L}]"/>',
        "ElseOnly": '<filter xpath="//a">\n<else><drop/></else></filter>',
        "Mixed": '<filter xpath="//a"><then/>\n<drop/></filter>',
        "NoSource": '<switch><case regex="a"/></switch>',
        "CaseNoRegex": '<switch source="//a">\n<case><drop/></case></switch>',
        "Typo": '<switch source="//a">\n<cas regex="a"/></switch>',
        "TwoDefaults": '<switch source="//a"><default/>\n<default/></switch>',
        "BadCaseRegex": '<switch source="//a">\n<case regex="[a-"/></switch>',
    }
    files = {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>\n\n{xml}\n<respond/>'
        "</inSequence></target></proxy>"
        for name, xml in cases.items()
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    expected = [
        "NoRegex.xml:3: filter: a filter with 'source' needs 'regex' too",
        "NoCondition.xml:3: filter: an 'xpath' or ('source', 'regex') attributes are required for a filter",
        "BothConditions.xml:3: filter: use either 'xpath' or 'source' + 'regex', not both",
        "BadXPath.xml:3: filter: invalid expression for attribute 'xpath': '//a['",
        "BadRegex.xml:3: filter: invalid regular expression in 'regex': '(x'",
        "UnknownProperty.xml:3: filter: invalid regular expression in 'regex': '\\p{Latin}+': unknown character "
        "property \\p{Latin}",  # Java names scripts \p{IsLatin} or \p{sc=Latin}
        "EmptyIntersection.xml:3: filter: invalid regular expression in 'regex': '[a-z&&]': '&&' needs a class "
        "on both sides",
        "LateUnicodeFlag.xml:3: filter: invalid regular expression in 'regex': 'a(?U)\\w': (?U) is supported only "
        "at the start of the pattern",
        "FoldedBackreference.xml:3: filter: invalid regular expression in 'regex': '(?i)(a)\\1': a backreference "
        "under (?i) compares US-ASCII letters only in Java",
        "NeverMatches.xml:3: filter: invalid regular expression in 'regex': '[^\\p{L}\\P{L}]': a negated class "
        "holding a property and its complement never matches",
        "ElseOnly.xml:4: else: <else> needs a <then> in the same filter",
        "Mixed.xml:4: drop: <drop> next to <then>/<else> is ignored by MI (move it inside <then> or <else>)",
        "NoSource.xml:3: switch: a 'source' expression attribute is required for a switch mediator",
        "CaseNoRegex.xml:4: case: the 'regex' attribute is required for a switch case",
        "Typo.xml:4: cas: unexpected <cas> inside <switch> (did you mean 'case'?)",
        "TwoDefaults.xml:4: default: a switch takes only one <default>",
        "BadCaseRegex.xml:4: case: invalid regular expression in 'regex': '[a-'",
    ]
    for line in expected:
        assert line in out, (line, out)
