"""The Node.js bootstrap: a small script ``node`` runs for one handler invocation.

Same contract as :mod:`.bootstrap_python`: ``node bootstrap.js EVENT_FILE RESULT_FILE
REQUEST_ID DEADLINE_MS INVOKED_ARN [CLIENT_CONTEXT]``. The handler (``_HANDLER``: ``file.export``) is
loaded from ``LAMBDA_TASK_ROOT`` (``.js``/``.cjs`` with ``require``, ``.mjs`` and the
``.js`` of a ``"type": "module"`` package with ``import``) and called as ``handler(event, context, callback)``: a returned promise
or the callback gives the result, as in Lambda's Node.js runtime: the callback's
once the event loop is empty, unless ``context.callbackWaitsForEmptyEventLoop``
is false; a handler that returns nothing and never calls back ends when its
event loop is empty (its pending requests, such as ``cfn-response``'s PUT,
finish first). ``console`` methods write Lambda's lines (time, request id,
level, message), and failures are logged as its ``Invoke Error`` /
``Uncaught Exception`` lines.

Modules resolve as on Lambda's nodejs18.x and later runtimes: the function's own
``node_modules`` first, then the directories of ``NODE_PATH``, which by default
holds the AWS SDK for JavaScript v3 clients ``scripts/setup`` installs
(``runtime/nodejs``, :func:`sdk_modules`). ``require`` reads ``NODE_PATH``
itself; for ``import`` (which ignores it) the bootstrap gives an ES module
handler a resolve hook that tries those directories once the usual resolution
found nothing (Lambda's runtimes do the same since nodejs18.x). A CommonJS
handler gets no hook (it costs a loader thread per start): its ``require``
finds the SDK, a dynamic ``import()`` in it only the function's own modules.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where ``scripts/setup`` installs the SDK clients (``npm ci`` in ``runtime/nodejs``).
_SETUP_MODULES = Path(__file__).resolve().parents[3] / "runtime" / "nodejs" / "node_modules"
#: The server's variable naming another ``node_modules`` directory for the SDK clients.
SDK_VARIABLE = "MONTEMAP_NODE_MODULES"

SCRIPT = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const url = require('url');
const util = require('util');
const [eventFile, resultFile, requestId, deadlineMs, invokedArn, clientContext] = process.argv.slice(2);
let done = false;
// A callback's result while Lambda waits for the event loop to empty (its default).
let pending = null;

// Lambda's Node.js runtime prefixes each console line: "ISO time<TAB>request id<TAB>LEVEL<TAB>"
// (the request id is "undefined" while the module loads, before the invocation starts).
let currentRequestId;
function logLine(level, text) {
  const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${text}\n`;
  (level === 'ERROR' || level === 'WARN' ? process.stderr : process.stdout).write(line);
}
for (const [method, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'],
                               ['error', 'ERROR'], ['debug', 'DEBUG']]) {
  console[method] = (...args) => logLine(level, util.format(...args));
}
console.trace = (...args) => {
  const trace = { name: 'Trace', message: util.format(...args) };
  Error.captureStackTrace(trace, console.trace);
  logLine('TRACE', trace.stack);
};

// Lambda's error document: `trace` is the error's stack split into lines, as Lambda's
// runtime sends it ("Type: message", then "    at ..." frames; this script's own frames
// are left out); a thrown value that is not an Error has its typeof as errorType.
function errorDoc(type, message, err) {
  if (!(err instanceof Error)) return { errorType: type, errorMessage: message, trace: [] };
  const frames = String(err.stack || '').split('\n')
    .filter(line => /^\s+at /.test(line) && !line.includes(__filename));
  return { errorType: type, errorMessage: message, trace: `${type}: ${message}`.split('\n').concat(frames) };
}
function finish(outcome) {
  if (done) return;
  done = true;
  fs.writeFileSync(resultFile + '.part', JSON.stringify(outcome));
  fs.renameSync(resultFile + '.part', resultFile);
  process.exit(0);
}
// A failure while the handler's module loads is logged as "Uncaught Exception", one of the
// invocation as "Invoke Error", as Lambda's runtime logs them.
function fail(err, label = 'Invoke Error') {
  const isError = err instanceof Error;
  const type = isError ? (err.name || 'Error') : typeof err;
  const message = isError ? String(err.message) : String(err);
  const doc = errorDoc(type, message, err);
  logLine('ERROR', `${label} \t` + JSON.stringify({ errorType: type, errorMessage: message, stack: doc.trace }));
  finish({ error: doc });
}
// What a response-streaming handler wrote (Buffers), sent as the payload's raw bytes.
function succeedRaw(chunks, contentType) {
  finish({ payloadBase64: Buffer.concat(chunks).toString('base64'), contentType });
}
function succeed(value) {
  let text;
  try { text = JSON.stringify(value === undefined ? null : value); }
  catch (e) { return finish({ error: errorDoc('Runtime.MarshalError', 'Unable to stringify response body: ' + e.message) }); }
  finish({ payload: text });
}

// Lambda's `awslambda` global for response streaming: streamifyResponse marks a handler
// that is called as handler(event, responseStream, context); a plain Invoke answers what it
// wrote, buffered. HttpResponseStream.from puts its metadata prelude (JSON, then 8 NUL
// bytes) before the first bytes written, as Lambda's runtime does.
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
function responseStream() {
  const chunks = [];
  let prelude = null;
  const flushPrelude = () => { if (prelude !== null) { chunks.push(prelude); prelude = null; } };
  const stream = new (require('stream').Writable)({
    write(chunk, encoding, next) { flushPrelude(); chunks.push(Buffer.from(chunk, encoding)); next(); },
    final(next) { flushPrelude(); next(); },
  });
  stream.contentType = 'application/octet-stream';
  stream.setContentType = (type) => { stream.contentType = String(type); };
  stream.setPrelude = (metadata) => {
    prelude = Buffer.concat([Buffer.from(JSON.stringify(metadata)), Buffer.alloc(8)]);
  };
  stream.chunks = chunks;
  return stream;
}
globalThis.awslambda = {
  streamifyResponse: (handler) => { handler[STREAMING] = 'response'; return handler; },
  HttpResponseStream: {
    from(stream, metadata) {
      stream.setContentType('application/vnd.awslambda.http-integration-response');
      stream.setPrelude(metadata);
      return stream;
    },
  },
};
// A streaming handler's call: the payload is every byte written. A stream the handler left
// open once its promise settled (work it started may still write, an un-awaited pipeline)
// is ended when the event loop has nothing left to do.
async function invokeStreaming(handler, event, context) {
  const stream = responseStream();
  const ended = new Promise((resolve, reject) => { stream.on('finish', resolve); stream.on('error', reject); });
  await handler(event, stream, context);
  if (!stream.writableEnded) pending = () => { pending = null; stream.end(); };
  await ended;
  pending = null;
  succeedRaw(stream.chunks, stream.contentType);
}

// `import` ignores NODE_PATH: once the usual resolution (the function's own
// node_modules) finds nothing for a bare specifier, try each NODE_PATH directory.
const ESM_HOOK = `
let parents = [];
export function initialize(data) { parents = data.parents; }
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (err) {
    const bare = !/^[./]/.test(specifier) && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier);
    if (!bare || err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    for (const parentURL of parents) {
      try { return await next(specifier, { ...context, parentURL }); } catch (_) { /* next one */ }
    }
    throw err;
  }
}`;
function registerEsmHook() {
  const nodeModule = require('module');
  const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  if (dirs.length === 0 || typeof nodeModule.register !== 'function') return;
  // A parent inside each node_modules directory: resolving from it walks up and
  // finds the packages of that directory.
  const parents = dirs.map(d => url.pathToFileURL(path.join(path.resolve(d), '.montemap-parent.mjs')).href);
  nodeModule.register('data:text/javascript,' + encodeURIComponent(ESM_HOOK), { data: { parents } });
}
// Whether a handler file is an ES module: .mjs, or .js under a package.json with
// "type": "module" (the nearest one, as node decides).
function isEsModule(file) {
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try { return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module'; } catch (_) { return false; }
    }
    if (path.dirname(dir) === dir) return false;
  }
}
// Lambda's nodejs16.x and older runtimes bundled the v2 SDK; code written for them names
// it, and it is not installed here (nor in Lambda's later runtimes).
const V2_SDK_HINT = "\n(The AWS SDK for JavaScript v2, 'aws-sdk', which Lambda's nodejs16.x and " +
  'older runtimes bundled, is not installed here: package it with the function, or use the ' +
  'v3 clients (@aws-sdk/client-*), as Lambda\'s nodejs18.x and later runtimes ask.)';
// The hook's loader thread costs some 30 ms a start, so only ES module handlers
// (whose imports need it) get it; CommonJS ones require through NODE_PATH.
async function loadFile(file) {
  try {
    if (!isEsModule(file)) return require(file);
    registerEsmHook();
    return await import(url.pathToFileURL(file).href);
  } catch (e) {
    // A module the handler's file needs and nothing provides: Lambda's error.
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      const hint = /Cannot find (module|package) 'aws-sdk'/.test(e.message) ? V2_SDK_HINT : '';
      throw Object.assign(new Error(`${e.name}: ${e.message}${hint}`), { name: 'Runtime.ImportModuleError' });
    }
    if (e instanceof SyntaxError) {
      throw Object.assign(new Error(`SyntaxError: ${e.message}`), { name: 'Runtime.UserCodeSyntaxError' });
    }
    throw e;
  }
}

// A handler string is "dir/module.export": the module is the file name up to the first
// dot, the rest the export's path, which may name a nested one ("index.handlers.main").
async function load(spec) {
  const root = process.cwd(); // LAMBDA_TASK_ROOT's code as the invocation started
  const slash = spec.lastIndexOf('/');
  const dot = spec.indexOf('.', slash + 1);
  if (dot <= slash + 1 || dot === spec.length - 1) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { name: 'Runtime.MalformedHandlerName' });
  }
  const wanted = spec.slice(0, dot);
  const base = path.resolve(root, wanted);
  let mod;
  for (const ext of ['.js', '.cjs', '.mjs']) {
    if (!fs.existsSync(base + ext)) continue;
    mod = await loadFile(base + ext);
    break;
  }
  if (mod === undefined) {
    throw Object.assign(new Error(`Error: Cannot find module '${wanted}'\nRequire stack:\n- ${__filename}`), { name: 'Runtime.ImportModuleError' });
  }
  const handler = spec.slice(dot + 1).split('.').reduce((found, key) => (found == null ? undefined : found[key]), mod);
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  }
  return handler;
}

// Lambda's nodejs24.x and later runtimes refuse a handler declaring a callback parameter
// (three or more; a response-streaming one aside) before any invocation: an Init Error.
function callbackDeprecated(handler) {
  const major = Number((/nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV || '') || [])[1]);
  if (!(major >= 24) || handler[STREAMING] === 'response' || handler.length < 3) return null;
  return Object.assign(new Error('ERROR: AWS Lambda has removed support for callback-based ' +
    'function handlers starting with Node.js 24. You need to modify this function to use a ' +
    'supported handler signature to use Node.js 24 or later. For more information see ' +
    'https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.'),
    { name: 'Runtime.CallbackHandlerDeprecated' });
}

async function main() {
  let handler;
  try { handler = await load(process.env._HANDLER); } catch (e) { return fail(e, 'Uncaught Exception'); }
  const deprecated = callbackDeprecated(handler);
  if (deprecated !== null) return fail(deprecated, 'Init Error');
  const event = JSON.parse(fs.readFileSync(eventFile, 'utf8'));
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: invokedArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    clientContext: clientContext ? JSON.parse(clientContext) : undefined,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, Number(deadlineMs) - Date.now()),
    done: (err, value) => (err ? fail(err) : succeed(value)),
    succeed: (value) => succeed(value),
    fail: (err) => fail(err),
  };
  // As Lambda's runtime: the callback's result is sent once the event loop is empty (its
  // timers, sockets and pending work done) unless callbackWaitsForEmptyEventLoop is false;
  // context.done/succeed/fail send it at once.
  const callback = (err, value) => {
    if (pending !== null || done) return;
    const send = () => (err ? fail(err) : succeed(value));
    if (context.callbackWaitsForEmptyEventLoop) pending = send;
    else send();
  };
  currentRequestId = requestId;
  if (handler[STREAMING] === 'response') {
    try { return await invokeStreaming(handler, event, context); } catch (e) { return fail(e); }
  }
  try {
    const result = handler(event, context, callback);
    // A result the callback already gave (and waits to send) wins over a returned one.
    if (result && typeof result.then === 'function') {
      const value = await result;
      if (pending === null) succeed(value);
    } else if (result !== undefined && handler.length < 3) succeed(result);
    // Otherwise, as Lambda's runtime: the callback, context.done/succeed/fail (what
    // cfn-response calls once its PUT is answered), or an empty event loop ends it.
  } catch (e) { fail(e); }
}
process.on('beforeExit', () => (pending !== null ? pending() : succeed(null)));
process.on('unhandledRejection', (reason) => fail(reason));
process.on('uncaughtException', (err) => fail(err, 'Uncaught Exception'));
main();
"""


def write_script(directory: Path) -> Path:
    """Write the bootstrap into ``directory``; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bootstrap.js"
    if not path.exists() or path.read_text() != SCRIPT:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(SCRIPT)
        tmp.replace(path)
    return path


def sdk_modules() -> Path | None:
    """The ``node_modules`` directory of the SDK clients, or ``None`` where none is installed.

    ``MONTEMAP_NODE_MODULES`` names it, else the one ``scripts/setup`` fills.
    """
    configured = os.environ.get(SDK_VARIABLE)
    path = Path(configured) if configured else _SETUP_MODULES
    return path if path.is_dir() else None


def default_variables(modules: Path | None) -> dict[str, str]:
    """The variables a Node.js function gets unless it sets them itself.

    ``NODE_PATH`` names the SDK clients; the SDK's warning about the host's
    node version (the SDK asks for a newer one than some hosts have; it has
    nothing to do with the function's runtime) is turned off.
    """
    if modules is None:
        return {}
    return {"NODE_PATH": str(modules), "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true"}
