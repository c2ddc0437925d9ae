"""Signs claims with PyJWT for the tests, as an identity provider would.

Reads {"kid": ..., "claims": [{...}, ...]} on stdin; prints {"jwks": {"keys": [...]},
"tokens": [...]}: RS256 tokens signed by a fresh 2048-bit RSA key whose public half is the
one JWK of the set. Run by wrapper/tests/auth_support (mint_with_pyjwt).
"""
import json, sys

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

request = json.load(sys.stdin)
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
public.update({"kid": request["kid"], "alg": "RS256", "use": "sig"})
tokens = [jwt.encode(claims, key, algorithm="RS256", headers={"kid": request["kid"]}) for claims in request["claims"]]
json.dump({"jwks": {"keys": [public]}, "tokens": tokens}, sys.stdout)
