"""The Node.js bootstrap: a small script ``node`` runs for one handler invocation.

Same contract as :mod:`.bootstrap_python`: ``node bootstrap.js EVENT_FILE RESULT_FILE
REQUEST_ID DEADLINE_MS INVOKED_ARN``. The handler (``_HANDLER``: ``file.export``) is
loaded from ``LAMBDA_TASK_ROOT`` (``.js``/``.cjs`` with ``require``, ``.mjs`` with
``import``) and called as ``handler(event, context, callback)``: a returned promise
or the callback gives the result, as in Lambda's Node.js runtime; a handler that
returns nothing and never calls back ends when its event loop is empty (its
pending requests, such as ``cfn-response``'s PUT, finish first).
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const url = require('url');
const [eventFile, resultFile, requestId, deadlineMs, invokedArn] = process.argv.slice(2);
let done = false;

function errorDoc(type, message, err) {
  const stack = err && err.stack ? String(err.stack).split('\n').slice(1).map(s => s.trim()) : [];
  return { errorType: type, errorMessage: message, trace: stack };
}
function finish(outcome) {
  if (done) return;
  done = true;
  fs.writeFileSync(resultFile + '.part', JSON.stringify(outcome));
  fs.renameSync(resultFile + '.part', resultFile);
  process.exit(0);
}
function fail(err) {
  const type = err && err.name ? err.name : 'Error';
  const message = err && err.message !== undefined ? String(err.message) : String(err);
  console.error(`ERROR\t${type}: ${message}`);
  finish({ error: errorDoc(type, message, err) });
}
function succeed(value) {
  let text;
  try { text = JSON.stringify(value === undefined ? null : value); }
  catch (e) { return finish({ error: errorDoc('Runtime.MarshalError', 'Unable to stringify response body: ' + e.message) }); }
  finish({ payload: text });
}

async function load(spec) {
  const root = process.env.LAMBDA_TASK_ROOT;
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw Object.assign(new Error(`Bad handler ${spec}`), { name: 'Runtime.MalformedHandlerName' });
  const base = path.resolve(root, spec.slice(0, dot));
  const exportName = spec.slice(dot + 1);
  let mod;
  for (const ext of ['.js', '.cjs', '.mjs']) {
    if (!fs.existsSync(base + ext)) continue;
    mod = ext === '.mjs' ? await import(url.pathToFileURL(base + ext).href) : require(base + ext);
    break;
  }
  if (mod === undefined) {
    throw Object.assign(new Error(`Cannot find module '${spec.slice(0, dot)}'`), { name: 'Runtime.ImportModuleError' });
  }
  const handler = mod[exportName];
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  }
  return handler;
}

async function main() {
  let handler;
  try { handler = await load(process.env._HANDLER); } catch (e) { return fail(e); }
  const event = JSON.parse(fs.readFileSync(eventFile, 'utf8'));
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: invokedArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, Number(deadlineMs) - Date.now()),
    done: (err, value) => (err ? fail(err) : succeed(value)),
    succeed: (value) => succeed(value),
    fail: (err) => fail(err),
  };
  const callback = (err, value) => (err ? fail(err) : succeed(value));
  try {
    const result = handler(event, context, callback);
    if (result && typeof result.then === 'function') succeed(await result);
    else if (result !== undefined && handler.length < 3) succeed(result);
    // Otherwise, as Lambda's runtime: the callback, context.done/succeed/fail (what
    // cfn-response calls once its PUT is answered), or an empty event loop ends it.
  } catch (e) { fail(e); }
}
process.on('beforeExit', () => succeed(null));
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);
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
