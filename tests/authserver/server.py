"""A real OAuth2 authorization server (Authlib on Flask) for the introspection tests.

Issues RFC 9068 JWT access tokens (client_credentials or password, ES256 with tests/keys/ec256.key, whose public
half the tests' jwt.json trusts), introspects them (RFC 7662, HTTP Basic client authentication) and
revokes them (RFC 7009). Tokens live in memory, so a revoked JWT is known to be revoked.

Test controls under /admin/: fault modes for /introspect (none, hang, slow, 500, garbage, huge,
redirect, any), a request counter per token, and bulk minting. "any" is for load benchmarks with
tokens the benchmark signs itself: every token is active (after `ms`) unless /admin/deny named it. Prints {"port": ..., "issuer": ...} once listening.
"""
import hashlib
import json
import os
import sys
import threading
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, Response, request
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import make_server

CLIENT_ID = os.environ.get("CLIENT_ID", "broker")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "broker-secret")
# The password grant (credentials exchange tests): any username with this password.
USER_PASSWORD = os.environ.get("USER_PASSWORD", "user-password")
# ALG=RS256 with an RSA KEY_FILE signs RS256 tokens (default: ES256 with an EC P-256 key).
ALG = os.environ.get("ALG", "ES256")
KEY = (RSAKey if ALG.startswith(("RS", "PS")) else ECKey).import_key(open(os.environ["KEY_FILE"], "rb").read())

app = Flask(__name__)
lock = threading.Lock()
tokens = {}  # access token string -> Token
state = {"fault": "none", "ms": 0, "introspect": 0, "per_token": {}}
denied = set()  # sha256 of tokens that "any" answers inactive


class Client(ClientMixin):
    def get_client_id(self):
        return CLIENT_ID

    def get_allowed_scope(self, scope):
        return scope or ""

    def check_client_secret(self, secret):
        return secret == CLIENT_SECRET

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type):
        return grant_type in ("client_credentials", "password")


CLIENT = Client()


class User:
    def __init__(self, name):
        self.name = name

    def get_user_id(self):
        return self.name


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    # The plugin sends the client's credentials in the form (client_secret_post).
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username, password):
        return User(username) if password == USER_PASSWORD else None


class Token(TokenMixin):
    def __init__(self, d):
        self.d, self.revoked = d, False
        self.claims = json.loads(__import__("base64").urlsafe_b64decode(d["access_token"].split(".")[1] + "=="))

    def check_client(self, client):
        return client.get_client_id() == CLIENT_ID

    def get_scope(self):
        return self.d.get("scope", "")

    def get_expires_in(self):
        return self.d["expires_in"]

    def is_expired(self):
        return time.time() >= self.claims["exp"]

    def is_revoked(self):
        return self.revoked


class Generator(JWTBearerTokenGenerator):
    def get_jwks(self):
        return KEY

    def get_audiences(self, client, user, scope):
        return "mqtt"

    def get_extra_claims(self, client, grant_type, user, scope):
        sub = request.values.get("sub") if request else None
        extra = {"sub": sub} if sub else {}
        # Test control: any further claims as a JSON object (tenant, device type, resources...).
        if request and request.values.get("claims"):
            extra.update(json.loads(request.values["claims"]))
        return extra


class Introspect(IntrospectionEndpoint):
    def query_token(self, token, hint):
        return tokens.get(token)

    def check_permission(self, token, client, request):
        return True

    def introspect_token(self, token):
        c = token.claims
        return {"active": True, "client_id": c["client_id"], "token_type": "Bearer", "scope": c.get("scope"),
                "sub": c["sub"], "aud": c["aud"], "iss": c["iss"], "exp": c["exp"], "iat": c["iat"]}


class Revoke(RevocationEndpoint):
    def query_token(self, token, hint):
        return tokens.get(token)

    def revoke_token(self, token, request):
        token.revoked = True


def save_token(token, req):
    tokens[token["access_token"]] = Token(token)


server = AuthorizationServer(app, query_client=lambda cid: CLIENT if cid == CLIENT_ID else None, save_token=save_token)
server.register_grant(grants.ClientCredentialsGrant)
server.register_grant(PasswordGrant)
server.register_endpoint(Introspect)
server.register_endpoint(Revoke)


@app.post("/token")
def token():
    return server.create_token_response()


@app.post("/introspect")
def introspect():
    token = request.form.get("token", "")
    with lock:
        state["introspect"] += 1
        d = hashlib.sha256(token.encode()).hexdigest()
        state["per_token"][d] = state["per_token"].get(d, 0) + 1
        fault, ms = state["fault"], state["ms"]
    if fault == "hang":
        time.sleep(ms / 1000 if ms else 60)
    elif fault == "slow":
        time.sleep(ms / 1000)
    elif fault == "500":
        return Response("oops", status=500)
    elif fault == "garbage":
        return Response("<html>not json</html>", status=200, content_type="application/json")
    elif fault == "huge":
        return Response('{"active": true, "pad": "' + "x" * (5 << 20) + '"}', status=200, content_type="application/json")
    elif fault == "any":
        if ms:
            time.sleep(ms / 1000)
        return {"active": d not in denied}
    elif fault == "redirect":
        # 307 keeps the POST: a client that followed it would hear "active" for any token.
        return Response("", status=307, headers={"Location": "/vouch"})
    return server.create_endpoint_response("introspection")


@app.post("/vouch")
def vouch():
    """Says any token is active: where the "redirect" fault points."""
    return {"active": True}


@app.post("/revoke")
def revoke():
    return server.create_endpoint_response("revocation")


@app.get("/.well-known/openid-configuration")
def discovery():
    iss = app.config["ISSUER"]
    return {"issuer": iss, "jwks_uri": iss + "/jwks", "token_endpoint": iss + "/token",
            "introspection_endpoint": iss + "/introspect", "revocation_endpoint": iss + "/revoke"}


@app.get("/jwks")
def jwks():
    return {"keys": [KEY.as_dict(private=False)]}


@app.post("/admin/fault")
def fault():
    with lock:
        state["fault"], state["ms"] = request.args.get("mode", "none"), int(request.args.get("ms", "0"))
    return {"fault": state["fault"]}


@app.post("/admin/deny")
def deny():
    """The "any" mode answers inactive for this token from now on."""
    with lock:
        denied.add(hashlib.sha256(request.form.get("token", "").encode()).hexdigest())
    return {"denied": len(denied)}


@app.get("/admin/stats")
def stats():
    with lock:
        per = state["per_token"]
        return {"introspect": state["introspect"], "distinct": len(per), "max_per_token": max(per.values(), default=0)}


@app.post("/admin/mint")
def mint():
    """n tokens for subjects <prefix>0..n-1, issued as /token would (stored, introspectable)."""
    n, prefix = int(request.args.get("n", "1")), request.args.get("prefix", "dev-")
    out = []
    for i in range(n):
        with app.test_request_context(data={"sub": f"{prefix}{i}"}):
            t = server.generate_token("client_credentials", CLIENT, scope="mqtt", include_refresh_token=False)
        save_token(t, None)
        out.append(t["access_token"])
    return {"tokens": out}


def main():
    httpd = make_server("127.0.0.1", int(os.environ.get("PORT", "0")), app, threaded=True)
    port = httpd.server_port
    app.config["ISSUER"] = f"http://127.0.0.1:{port}"
    # Test control: a token's lifetime from the request's "expires_in" (default one hour).
    lifetime = lambda client, grant_type: int(request.values.get("expires_in", "3600")) if request else 3600
    server.register_token_generator("default", Generator(issuer=app.config["ISSUER"], alg=ALG, expires_generator=lifetime))
    print(json.dumps({"port": port, "issuer": app.config["ISSUER"]}), flush=True)
    # The test closes our stdin when it is done (or dies): leave then.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
