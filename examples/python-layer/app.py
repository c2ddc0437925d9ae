"""A Python function intercepted through the Intercept layer, with no Intercept code in it.

AWS_LAMBDA_EXEC_WRAPPER=/opt/intercept-wrapper points Python's runtime client at the Runtime API
proxy inside the layer's extension. The proxy authenticates each event (INTERCEPT_AUTH=jwt),
applies the per-user rate limit, and answers 401/429 itself: a rejected request never gets
here. An accepted one arrives with the verified claims in requestContext.authorizer.jwt, as
API Gateway's JWT authorizer would write them.
"""
import json


def handler(event, context):
    # Printed so that tests (and you) can see which requests reached the handler at all.
    print(f"python handler ran for request {context.aws_request_id}")
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims", {})
    body = {"message": "hello from Python behind Intercept", "subject": claims.get("sub"), "path": event.get("rawPath")}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
