"""`dblookup` and `dbreport` (W: config/xml/{AbstractDBMediatorFactory,DBLookupMediatorFactory,
DBReportMediatorFactory}).

The `<pool>` becomes a `gateway.database.DataSource` at deploy time: a JDBC URL (`jdbc:postgresql:`,
`jdbc:mysql:`/`jdbc:mariadb:`, `jdbc:sqlite:`) with user and password, or a `<dsName>` configured under
`datasources:` in the settings. Each `<sql>` has its `?` markers rewritten for the driver once, here."""

from __future__ import annotations

from pathlib import Path

from gateway.database import DataSource, Dialect, compile_sql, missing_driver, parse_jdbc_url, resolve_variable
from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.registry import mediator
from gateway.mediators.db import CONVERTERS, DBLookup, DBReport, Parameter, Statement, TransactionMediator
from gateway.settings import DEFAULT_DATASOURCES
from gateway.xmlutil import did_you_mean

_REGISTRY_KEY = Attribute(
    "key",
    Kind.TEXT,
    "A registry key holding the value (MI reads it when the mediator starts).",
    unsupported=NotYet(
        "pool values from registry keys are not supported yet", "write the value in the element, or use a <dsName>"
    ),
)


def _text(tag: str, doc: str, *, key: bool = False) -> Child:
    return Child(
        Element(
            tag,
            doc,
            body=Body.TEXT,
            common=False,
            text=Attribute("#text", Kind.TEXT, doc),
            attributes=(_REGISTRY_KEY,) if key else (),
        )
    )


# W: AbstractDBMediatorFactory.readPoolProperty. The DBCP tuning knobs with no equivalent in the async pools
# are accepted (they are valid MI configuration) and have no effect.
POOL_PROPERTIES = {
    "maxactive": "the most connections of the pool",
    "initialsize": "connections opened at first use",
    "minidle": "connections kept open",
    "maxwait": "milliseconds to wait for a connection",
    "autocommit": "no effect: statements autocommit unless useTransaction",
    "isolation": "no effect: the database's default isolation",
    "maxidle": "no effect",
    "maxopenstatements": "no effect",
    "poolstatements": "no effect: the drivers cache prepared statements themselves",
    "testonborrow": "no effect: the pools drop broken connections themselves",
    "testonreturn": "no effect",
    "testwhileidle": "no effect",
    "validationquery": "no effect",
}

POOL = Element(
    "pool",
    "A connection pool: <driver> and <url> (with <user>, <password>), or a <dsName> from the settings.",
    common=False,
    children=(
        _text("driver", "The JDBC driver class (informative: the URL picks the driver).", key=True),
        _text("url", "jdbc:postgresql://HOST:PORT/DB, jdbc:mysql://HOST:PORT/DB or jdbc:sqlite:FILE.", key=True),
        _text("user", "The database user.", key=True),
        _text("password", "The user's password (masked in logs).", key=True),
        _text("dsName", "A data source configured under `datasources:` in the settings (MI's datasources)."),
        _text("icClass", "The JNDI initial context class (not used: data sources come from the settings)."),
        Child(
            Element(
                "property",
                "A pool setting: " + ", ".join(POOL_PROPERTIES) + ".",
                common=False,
                attributes=(
                    Attribute("name", Kind.NAME, "The setting.", required=True),
                    Attribute("value", Kind.TEXT, "Its value.", required=True),
                ),
            ),
            repeatable=True,
        ),
    ),
)


def _value(node: Node, tag: str) -> str | None:
    """The element's text, with MI's `$SYSTEM:NAME` read from the environment."""
    child = node.one(tag)
    if child is None:
        return None
    try:
        return resolve_variable(str(child["#text"]).strip())
    except ValueError as exc:
        raise child.error(str(exc), "set the variable in the gateway's environment") from None


def _base(node: Node) -> Path:
    settings = node.fctx.settings
    return Path(settings.artifacts) if settings is not None else Path.cwd()


def _pool(node: Node) -> DataSource:
    name = _value(node, "dsName")
    if name is not None:
        settings = node.fctx.settings
        known = settings.datasources if settings is not None else DEFAULT_DATASOURCES
        source = known.get(name)
        if source is None:
            raise node.one("dsName").error(  # type: ignore[union-attr]
                f"the datasource '{name}' is not configured",
                did_you_mean(name, list(known))
                or f"add it under 'datasources:' in the gateway's settings (url, user, password); known: "
                f"{', '.join(sorted(known))}",
            )
        return source.resolved(_base(node))
    if node.one("driver") is None:
        raise node.error(
            "The DataSource connection information must be specified for using a custom DataSource connection "
            "pool or for a JNDI lookup",
            "give <driver> and <url> (with <user> and <password>), or a <dsName>",
        )
    url = _value(node, "url")
    if url is None:  # W: AbstractDBMediatorFactory.getValue
        raise node.error("Unable to read configuration value for : url", "add <url>jdbc:…</url>")
    if not url:  # MI deploys it and every statement fails to connect: reported here instead
        raise node.one("url").error(  # type: ignore[union-attr]
            "the <url> is empty: every statement would fail to connect",
            "write the JDBC URL in it, e.g. <url>jdbc:postgresql://HOST:PORT/DB</url> "
            "(the MI test configurations that leave it empty are filled in by their test harness)",
        )
    sizes: dict[str, int | float] = {}
    for prop in node.all("property"):
        key, text = str(prop["name"]).lower(), str(prop["value"]).strip()
        if key not in POOL_PROPERTIES:
            raise prop.error(
                f"unknown pool property '{prop['name']}'",
                did_you_mean(key, list(POOL_PROPERTIES)) or f"use one of: {', '.join(POOL_PROPERTIES)}",
            )
        if key in ("maxactive", "initialsize", "minidle", "maxwait"):
            try:
                number = int(text)
            except ValueError:
                raise prop.error(f"the pool property '{prop['name']}' must be a whole number, not '{text}'") from None
            if key == "maxactive" and number > 0:
                sizes["max_size"] = number
            elif key == "maxwait" and number > 0:
                sizes["acquire_timeout"] = number / 1000
            elif key in ("initialsize", "minidle") and number >= 0:
                sizes["min_size"] = max(int(sizes.get("min_size", 0)), number)
    if "min_size" in sizes and "max_size" in sizes:
        sizes["min_size"] = min(sizes["min_size"], sizes["max_size"])
    try:
        source = parse_jdbc_url(
            url,
            user=_value(node, "user") or None,  # <user/>: none, the driver's default
            password=_value(node, "password") or None,
            max_size=int(sizes["max_size"]) if "max_size" in sizes else None,
            min_size=int(sizes["min_size"]) if "min_size" in sizes else None,
            acquire_timeout=float(sizes["acquire_timeout"]) if "acquire_timeout" in sizes else None,
        )
    except ValueError as exc:
        raise node.one("url").error(str(exc)) from None  # type: ignore[union-attr]
    return source.resolved(_base(node))


CONNECTION = Element(
    "connection",
    "Where the statements run.",
    common=False,
    children=(Child(POOL, required=True, missing="a <pool> element is required inside <connection>"),),
)

PARAMETER = Element(
    "parameter",
    "The value of the next `?` of the statement, bound (never spliced into the SQL).",
    common=False,
    attributes=(
        Attribute("value", Kind.TEXT, "A literal value."),
        Attribute("expression", Kind.EXPRESSION, "An XPath or json-eval giving the value."),
        Attribute(
            "type",
            Kind.CHOICE,
            "The JDBC type the value is bound as (an empty value binds NULL).",
            required=True,
            choices=tuple(CONVERTERS),
            missing="Unknown or unsupported JDBC type : null",
        ),
    ),
)

RESULT = Element(
    "result",
    "A property set from the first row: the column's label, or its 1-based number.",
    common=False,
    attributes=(
        Attribute("name", Kind.NAME, "The property (default scope).", required=True),
        Attribute("column", Kind.NAME, "The column label (case-insensitive) or number.", required=True),
    ),
)

STATEMENT = Element(
    "statement",
    "One SQL statement with its parameters (and, for dblookup, results).",
    common=False,
    children=(
        _text("sql", "The SQL, with `?` for each parameter."),
        Child(PARAMETER, repeatable=True),
        Child(RESULT, repeatable=True),
    ),
)


def _statement(node: Node, dialect: Dialect, lookup: bool) -> Statement:
    sql_node = node.one("sql")
    if sql_node is None or not str(sql_node["#text"]).strip():
        raise node.error("Unable to read configuration value for : sql", "add <sql>…</sql>")
    sql = compile_sql(str(sql_node["#text"]), dialect)
    parameters = []
    for param in node.all("parameter"):
        if param.has("value") == param.has("expression"):
            raise param.error(
                "a <parameter> takes either 'value' or 'expression'",
                "MI skips a parameter with neither, and uses 'value' when both are given",
            )
        parameters.append(Parameter(param["value"] if param.has("value") else None, param["expression"], param["type"]))
    if len(parameters) != sql.count:
        raise sql_node.error(
            f"the statement has {sql.count} '?' marker(s) but {len(parameters)} <parameter>(s)",
            "give one <parameter> for each '?', in order",
        )
    results: list[tuple[str, str | int]] = []
    for result in node.all("result"):
        column = str(result["column"])
        results.append((str(result["name"]), int(column) if column.isdigit() else column))
    if results and not lookup:
        raise node.all("result")[0].error("<result> is read by dblookup only", "dbreport sets no properties")
    return Statement(sql, tuple(parameters), tuple(results))


def _build(node: Node, lookup: bool) -> DBLookup | DBReport:
    connection = node.one("connection")
    assert connection is not None  # required
    pool = connection.one("pool")
    assert pool is not None
    source = _pool(pool)
    install = missing_driver(source.dialect)
    if install is not None:
        raise pool.error(f"the {source.dialect} driver is not installed", install)
    statements = tuple(_statement(s, source.dialect, lookup) for s in node.all("statement"))
    built: DBLookup | DBReport = (
        DBLookup(source, statements, source.acquire_timeout, node.location)
        if lookup
        else DBReport(source, statements, source.acquire_timeout, bool(node["useTransaction"]), node.location)
    )
    name = _value(pool, "dsName")
    if name is not None:
        built.name = name
    return built


_CHILDREN = (
    Child(CONNECTION, required=True, missing="The DataSource connection information must be specified"),
    Child(STATEMENT, repeatable=True),
)

mediator(
    Element(
        "dblookup",
        "Run SQL queries and set properties from the first row of each (`<result name column>`). The statements "
        "run on a pooled connection of PostgreSQL, MySQL/MariaDB or SQLite with bound parameters.",
        anchor="W: DBLookupMediatorFactory",
        build=lambda node: _build(node, lookup=True),
        children=_CHILDREN,
    )
)

mediator(
    Element(
        "dbreport",
        "Run SQL updates (insert, update, delete, call); each statement commits on its own, or all of them "
        "together with useTransaction. Sets DBREPORT_MODIFIED_RAW_COUNT to the rows changed.",
        anchor="W: DBReportMediatorFactory",
        build=lambda node: _build(node, lookup=False),
        children=_CHILDREN,
        attributes=(
            Attribute(
                "useTransaction",
                Kind.BOOLEAN,
                "Run all the statements in one transaction: committed at the end, rolled back on a failure.",
                default=False,
            ),
        ),
    )
)

mediator(
    Element(
        "transaction",
        "Begin, join, commit or roll back a database transaction for the rest of the message: dblookup and "
        "dbreport then run in it (one connection per data source) until commit or rollback; one left open at the "
        "end of the message is rolled back.",
        anchor="W: TransactionMediatorFactory",
        build=lambda node: TransactionMediator(node["action"], node.location),
        attributes=(
            Attribute(
                "action",
                Kind.CHOICE,
                "new (fault if one exists), use-existing-or-new, fault-if-no-tx, commit, rollback.",
                required=True,
                choices=("new", "use-existing-or-new", "fault-if-no-tx", "commit", "rollback"),
                missing="The 'action' attribute is required for Transaction mediator definition",
            ),
        ),
    )
)
