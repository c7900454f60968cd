// The `mc` object a <script language="js"> sees (W: GraalVMJavaScriptMessageContext, MI 4's default engine).
// It is built from a snapshot of the message that the gateway hands in, and every change the script makes is
// recorded in order and handed back: the script never touches the gateway's objects, and V8 offers no file or
// network access. Payload XML is a string, as with GraalJS (Rhino's E4X is not JavaScript).
"use strict";
var __run = (function () {
  var SCOPES = { "default": "default", "synapse": "default", "axis2": "axis2", "axis2-client": "axis2",
                 "transport": "transport", "operation": "operation" };
  function scopeOf(scope) {
    if (scope === undefined || scope === null) return "default";
    var name = SCOPES[String(scope).toLowerCase()];
    if (name === undefined) throw new Error("Unsupported scope : " + scope);
    return name;
  }
  function xmlText(value) {
    if (value === null || value === undefined) throw new Error("Failed to create OMElement with provided payload");
    if (typeof value === "object" && typeof value.toXMLString === "function") return value.toXMLString();
    return String(value);
  }
  function plain(value) {
    if (value === undefined) return null;
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") return isFinite(value) ? value : String(value);
    if (typeof value === "object" && typeof value.toXMLString === "function") return { "$xml": value.toXMLString() };
    if (typeof value === "object") return { "$json": JSON.stringify(value) };
    return String(value);
  }
  function makeContext(state, changes) {
    var props = state.props;
    var json;  // the parsed JSON payload, made on first use (W: JSON_OBJECT)
    function lookup(name, scope) {
      var table = props[scopeOf(scope)];
      if (table === undefined) return null;
      if (scopeOf(scope) === "transport") {
        var wanted = String(name).toLowerCase();
        for (var key in table) if (key.toLowerCase() === wanted) return table[key];
        return null;
      }
      return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : null;
    }
    var mc = {
      getPayloadXML: function () { return state.xml === undefined ? null : state.xml; },
      setPayloadXML: function (payload) {
        var text = xmlText(payload);
        state.xml = text; state.json = undefined; json = undefined;
        changes.push(["xml", text]);
      },
      getPayloadJSON: function () {
        if (json === undefined) json = (state.json === undefined || state.json === null) ? {} : JSON.parse(state.json);
        return json;
      },
      setPayloadJSON: function (payload) {
        var text = JSON.stringify(payload);
        if (text === undefined) throw new Error("the JSON payload is undefined");
        json = payload; state.json = text; state.xml = undefined;
        changes.push(["json", text]);
      },
      getPayloadText: function () {
        if (state.json !== undefined && state.json !== null) return state.json;
        return state.envelope === undefined ? null : state.envelope;
      },
      getJsonText: function () { var t = lookup("JSON_TEXT"); return t === null ? "{}" : t; },
      setJsonText: function (context, text) {
        if (context === null || context === undefined) return false;
        if (text !== null && text !== undefined) mc.setProperty("JSON_TEXT", text);
        return true;
      },
      jsonObject: function (context) { return context === null || context === undefined ? null : mc.getPayloadJSON(); },
      setJsonObject: function (context, value) { json = value; return true; },
      getEnvelopeXML: function () { return state.envelope === undefined ? null : state.envelope; },
      getEnvelope: function () { return state.envelope === undefined ? null : state.envelope; },
      addHeader: function (mustUnderstand, content) { changes.push(["header", !!mustUnderstand, xmlText(content)]); },
      getProperty: function (name, scope) { return lookup(String(name), scope); },
      setProperty: function (name, value, scope) {
        var where = scopeOf(scope), stored = plain(value);
        props[where] = props[where] || {};
        props[where][String(name)] = value;
        changes.push(["set", where, String(name), stored]);
      },
      removeProperty: function (name, scope) {
        var where = scopeOf(scope);
        if (props[where]) delete props[where][String(name)];
        changes.push(["remove", where, String(name)]);
      },
      getPropertyKeySet: function () { return Object.keys(props["default"]); },
      getMessageID: function () { return state.messageId; },
      setMessageID: function (id) { state.messageId = String(id); changes.push(["messageId", String(id)]); },
      getTo: function () { return state.to; },
      setTo: function (to) { state.to = to === null || to === undefined ? null : String(to); changes.push(["to", state.to]); },
      getReplyTo: function () { return state.replyTo; },
      getFrom: function () { return state.from; },
      getSoapAction: function () { return state.soapAction; },
      setSoapAction: function (action) { state.soapAction = String(action); changes.push(["soapAction", String(action)]); },
      getWSAAction: function () { return state.soapAction; },
      isResponse: function () { return state.response; },
      setResponse: function (value) { state.response = !!value; changes.push(["response", !!value]); },
      isFaultResponse: function () { return state.fault; },
      isDoingPOX: function () { return state.pox; },
      isDoingGET: function () { return state.get; },
    };
    return mc;
  }
  function log(changes) {
    return function () {
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(typeof arguments[i] === "string" ? arguments[i] : JSON.stringify(arguments[i]));
      changes.push(["log", parts.join(" ")]);
    };
  }
  return function (state, fn) {
    var changes = [], result, mc = makeContext(state, changes);
    var print = log(changes);
    globalThis.print = print;
    globalThis.console = { log: print, info: print, warn: print, error: print, debug: print };
    try {
      if (fn) {
        var target = globalThis[fn];
        if (typeof target !== "function") return JSON.stringify({ error: "NoSuchMethodException: " + fn, missing: true, changes: changes });
        result = target(mc);
      } else {
        globalThis.mc = mc;
        result = (0, eval)(globalThis.__inline);
      }
    } catch (e) {
      return JSON.stringify({ error: (e && e.stack) ? String(e.stack) : String(e), changes: changes });
    } finally {
      delete globalThis.mc;
    }
    return JSON.stringify({ result: result === false ? false : null, changes: changes });
  };
})();

// E4X's XML objects, for the scripts gateway.mediators.script_e4x rewrites: a small XML tree behind a Proxy, so
// `x.name`, `x[0]`, `x == "text"` and `parseFloat(x)` behave as in Rhino. Whitespace-only text is ignored.
var __e4x = (function () {
  var ENTITIES = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'" };
  function decode(s) {
    return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, function (m, e) {
      if (e.charAt(0) !== "#") return ENTITIES[e];
      return String.fromCodePoint(e.charAt(1) === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    });
  }
  function escText(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function escAttr(s) { return escText(s).replace(/"/g, "&quot;"); }
  function parseAttrs(s) {
    var out = [], re = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g, m;
    while ((m = re.exec(s))) out.push([m[1], decode(m[2] !== undefined ? m[2] : m[3])]);
    return out;
  }
  var TOKENS = /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<\/([^\s>]+)\s*>|<([^\s\/>!?]+)((?:\s+[^\s=\/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
  function parse(s) {
    var root = { children: [] }, stack = [root], m;
    TOKENS.lastIndex = 0;
    while ((m = TOKENS.exec(s))) {
      var top = stack[stack.length - 1];
      if (m[1] !== undefined) top.children.push({ text: m[1] });
      else if (m[2] !== undefined) { if (stack.length > 1) stack.pop(); }
      else if (m[3] !== undefined) {
        var el = { name: m[3], local: m[3].replace(/^.*:/, ""), attrs: parseAttrs(m[4] || ""), children: [] };
        top.children.push(el);
        if (!m[5]) stack.push(el);
      } else if (m[6] !== undefined && /\S/.test(m[6])) top.children.push({ text: decode(m[6]) });
    }
    return root.children.filter(function (n) { return n.name !== undefined; });
  }
  function serialize(n) {
    if (n.text !== undefined) return escText(n.text);
    var s = "<" + n.name;
    n.attrs.forEach(function (a) { s += " " + a[0] + "=\"" + escAttr(a[1]) + "\""; });
    if (!n.children.length) return s + "/>";
    return s + ">" + n.children.map(serialize).join("") + "</" + n.name + ">";
  }
  function textOf(n) { return n.text !== undefined ? n.text : n.children.map(textOf).join(""); }
  function simple(n) { return n.text !== undefined || n.children.every(function (c) { return c.text !== undefined; }); }
  function str(nodes) {
    if (nodes.every(simple)) return nodes.map(textOf).join("");
    return nodes.map(serialize).join("\n");
  }
  function matches(n, name) { return n.name !== undefined && (name === "*" || n.local === name); }
  function kids(nodes, name) {
    var out = [];
    nodes.forEach(function (n) { (n.children || []).forEach(function (c) { if (matches(c, name)) out.push(c); }); });
    return out;
  }
  function desc(nodes, name) {
    var out = [];
    function walk(n) { (n.children || []).forEach(function (c) { if (matches(c, name)) out.push(c); if (c.name !== undefined) walk(c); }); }
    nodes.forEach(walk);
    return out;
  }
  function attrs(nodes, name) {
    var out = [];
    nodes.forEach(function (n) {
      (n.attrs || []).forEach(function (a) {
        if (a[0] === "xmlns" || a[0].indexOf("xmlns:") === 0) return;
        if (name === "*" || a[0].replace(/^.*:/, "") === name) out.push({ text: a[1] });
      });
    });
    return out;
  }
  var methods = {
    toString: function (nodes) { return str(nodes); },
    valueOf: function (nodes) { return str(nodes); },
    toJSON: function (nodes) { return str(nodes); },
    toXMLString: function (nodes) { return nodes.map(serialize).join("\n"); },
    text: function (nodes) { return wrap(nodes.map(function (n) { return { text: textOf(n) }; })); },
    length: function (nodes) { return nodes.length; },
    children: function (nodes) { return wrap([].concat.apply([], nodes.map(function (n) { return n.children || []; }))); },
    elements: function (nodes, name) { return wrap(kids(nodes, name === undefined ? "*" : String(name))); },
    descendants: function (nodes, name) { return wrap(desc(nodes, name === undefined ? "*" : String(name))); },
    attribute: function (nodes, name) { return wrap(attrs(nodes, String(name))); },
    localName: function (nodes) { return nodes.length ? nodes[0].local || null : null; },
    name: function (nodes) { return nodes.length ? nodes[0].name || null : null; },
    hasSimpleContent: function (nodes) { return nodes.every(simple); },
    __desc: function (nodes, name) { return wrap(desc(nodes, name)); },
    __child: function (nodes, name) { return wrap(kids(nodes, name)); },
    __attr: function (nodes, name) { return wrap(attrs(nodes, name)); }
  };
  var AMBIGUOUS = { text: 1, length: 1, children: 1, elements: 1, descendants: 1, attribute: 1, localName: 1, name: 1 };
  var handler = {
    get: function (target, prop) {
      var nodes = target.nodes;
      if (prop === Symbol.toPrimitive) return function () { return str(nodes); };
      if (prop === Symbol.iterator) return function* () { for (var i = 0; i < nodes.length; i++) yield wrap([nodes[i]]); };
      if (typeof prop === "symbol") return undefined;
      if (prop === "__isXML") return true;
      if (AMBIGUOUS.hasOwnProperty(prop)) return ambiguous(nodes, prop);
      if (Object.prototype.hasOwnProperty.call(methods, prop)) {
        return function () { return methods[prop].apply(null, [nodes].concat(Array.prototype.slice.call(arguments))); };
      }
      if (/^[0-9]+$/.test(prop)) return wrap(nodes[+prop] ? [nodes[+prop]] : []);
      return wrap(kids(nodes, prop));
    },
    has: function (target, prop) { return typeof prop === "string" && /^[0-9]+$/.test(prop) && +prop < target.nodes.length; },
    ownKeys: function (target) { return target.nodes.map(function (_, i) { return String(i); }).concat(["nodes"]); },
    getOwnPropertyDescriptor: function (target, prop) {
      if (prop === "nodes") return Object.getOwnPropertyDescriptor(target, prop);
      if (/^[0-9]+$/.test(prop) && +prop < target.nodes.length) return { value: wrap([target.nodes[+prop]]), enumerable: true, configurable: true };
      return undefined;
    }
  };
  function wrap(nodes) { return new Proxy({ nodes: nodes }, handler); }
  // `x.name` is the children named "name", `x.name()` the method: a callable list serves both
  function ambiguous(nodes, prop) {
    var list = { nodes: kids(nodes, prop) };
    var call = function () { return methods[prop].apply(null, [nodes].concat(Array.prototype.slice.call(arguments))); };
    return new Proxy(call, {
      apply: function (target, self, args) { return call.apply(null, args); },
      get: function (target, p) { return handler.get(list, p); }
    });
  }
  function isXML(v) { return v !== null && (typeof v === "object" || typeof v === "function") && v.__isXML === true; }
  return {
    xml: function (s) {
      if (isXML(s)) return s;
      return wrap(parse(s === null || s === undefined ? "" : String(s)));
    },
    text: function (v) { return isXML(v) ? v.toXMLString() : escText(v === undefined ? "" : v); },
    attr: function (v) { return escAttr(isXML(v) ? v.toString() : v); }
  };
})();
