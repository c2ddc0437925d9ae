"""Regenerates the interoperability vectors: keys and tokens minted by PyJWT and jwcrypto.

Run from the repository root after scripts/test.sh made the venv:
    target/venv/bin/python wrapper/tests/vectors/make_vectors.py
The keys are test-only and worthless outside these tests.
"""
import base64, hashlib, hmac, json, pathlib

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk as jwcrypto_jwk, jwt as jwcrypto_jwt

HERE = pathlib.Path(__file__).parent
CLAIMS = {"sub": "interop", "iss": "https://issuer.test", "aud": "intercept", "exp": 4102444800,
          "iat": 1700000000, "scope": "read write"}

def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()

def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()

keys = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec256": ec.generate_private_key(ec.SECP256R1()),
    "ec384": ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}
for name, key in keys.items():
    (HERE / f"{name}_private.pem").write_text(pem_private(key))
    (HERE / f"{name}_public.pem").write_text(pem_public(key))
secret = "interop-hmac-secret-of-64-bytes-0123456789abcdef0123456789abcdef"

tokens = []
family = {"HS": None, "RS": "rsa", "PS": "rsa", "ES256": "ec256", "ES384": "ec384", "EdDSA": "ed25519"}
for alg in ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]:
    name = family.get(alg, family.get(alg[:2]))
    signing = secret if name is None else pem_private(keys[name])
    tokens.append({"alg": alg, "key": name or "hmac", "minted_by": "pyjwt " + jwt.__version__,
                   "token": jwt.encode(CLAIMS, signing, algorithm=alg, headers={"kid": name or "hmac"})})
    jw = (jwcrypto_jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode())
          if name is None else jwcrypto_jwk.JWK.from_pem(pem_private(keys[name]).encode()))
    token = jwcrypto_jwt.JWT(header={"alg": alg, "kid": name or "hmac"}, claims=CLAIMS)
    token.make_signed_token(jw)
    tokens.append({"alg": alg, "key": name or "hmac", "minted_by": "jwcrypto", "token": token.serialize()})

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

# Key confusion: HS256 with the RSA public key's PEM as the HMAC secret.
signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(CLAIMS).encode())
confused = signing_input + "." + b64(hmac.new(pem_public(keys["rsa"]).encode(), signing_input.encode(), hashlib.sha256).digest())

def jwk_set(names):
    out = {"keys": []}
    for name in names:
        entry = json.loads(jwcrypto_jwk.JWK.from_pem(pem_public(keys[name]).encode()).export_public())
        entry["kid"] = name
        entry["use"] = "sig"
        out["keys"].append(entry)
    return out

jwks = jwk_set(["rsa", "ec256", "ec384", "ed25519"])
jwks_rotated = jwk_set(["rsa2", "ec256"])

(HERE / "interop.json").write_text(json.dumps(
    {"hmac_secret": secret, "claims": CLAIMS, "tokens": tokens, "key_confusion_hs256": confused, "jwks": jwks, "jwks_rotated": jwks_rotated},
    indent=1) + "\n")
