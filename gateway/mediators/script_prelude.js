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
      getReplyTo: function () { return null; },
      getFrom: function () { return null; },
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
