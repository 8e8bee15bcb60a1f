"""The response modules CloudFormation provides to inline (``ZipFile``) functions.

CloudFormation puts a ``cfnresponse`` module beside inline Python code and a
``cfn-response`` module beside inline Node.js code; functions call
``send(event, context, status, data, physical_id)`` to PUT their result to
the event's ``ResponseURL``. These are montemap's own versions, with the same
interface, using only each runtime's standard library.
"""

from __future__ import annotations

PYTHON = '''"""CloudFormation's cfnresponse interface (montemap's implementation)."""
import json
import urllib.request

SUCCESS = "SUCCESS"
FAILED = "FAILED"


def send(event, context, responseStatus, responseData, physicalResourceId=None,
         noEcho=False, reason=None):
    log_stream = getattr(context, "log_stream_name", "") or ""
    body = {
        "Status": responseStatus,
        "Reason": reason or "See the details in CloudWatch Log Stream: " + log_stream,
        "PhysicalResourceId": physicalResourceId or log_stream or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": noEcho,
        "Data": responseData,
    }
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        event["ResponseURL"], data=data, method="PUT",
        headers={"content-type": "", "content-length": str(len(data))},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            print("Status code:", response.status)
    except Exception as exc:
        print("send(..) failed executing request: " + str(exc))
'''

NODE = r"""// CloudFormation's cfn-response interface (montemap's implementation).
exports.SUCCESS = "SUCCESS";
exports.FAILED = "FAILED";
exports.send = function (event, context, responseStatus, responseData, physicalResourceId, noEcho) {
  return new Promise((resolve) => {
    const body = JSON.stringify({
      Status: responseStatus,
      Reason: "See the details in CloudWatch Log Stream: " + (context.logStreamName || ""),
      PhysicalResourceId: physicalResourceId || context.logStreamName || event.LogicalResourceId,
      StackId: event.StackId,
      RequestId: event.RequestId,
      LogicalResourceId: event.LogicalResourceId,
      NoEcho: noEcho || false,
      Data: responseData,
    });
    const url = new URL(event.ResponseURL);
    const http = require(url.protocol === "https:" ? "https" : "http");
    const request = http.request(
      { hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: "PUT",
        headers: { "content-type": "", "content-length": Buffer.byteLength(body) } },
      (response) => { response.resume(); response.on("end", () => { resolve(); context.done && context.done(); }); }
    );
    request.on("error", (error) => { console.log("send(..) failed executing request: " + error); resolve(); context.done && context.done(); });
    request.write(body);
    request.end();
  });
};
"""
