"""The ElastiCache IAM authentication token botocore signs for fixed inputs.

Usage: python elasticache_token.py ACCESS_KEY SECRET_KEY SESSION_TOKEN|- REGION
       CACHE_NAME USER serverless|replication-group YYYYMMDDTHHMMSSZ
Prints the token: the SigV4 query-signed `GET http://CACHE_NAME/?Action=connect&User=USER`
(+ ResourceType=ServerlessCache), service elasticache, 900 s, without `http://`.
"""
import datetime
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ak, sk, token, region, name, user, kind, stamp = sys.argv[1:9]
params = {"Action": "connect", "User": user}
if kind == "serverless":
    params["ResourceType"] = "ServerlessCache"
request = AWSRequest(method="GET", url=f"http://{name}/", params=params)
signer = botocore.auth.SigV4QueryAuth(
    Credentials(ak, sk, None if token == "-" else token), "elasticache", region, expires=900
)
now = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
    signer.add_auth(request)
print(request.prepare().url.removeprefix("http://"))
