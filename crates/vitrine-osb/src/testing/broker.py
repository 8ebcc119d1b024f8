"""A real Open Service Broker for vitrine-osb's tests, built on openbrokerapi (PyPI 4.7.3).

Run by the Rust harness (vitrine_osb::testing) as
    python3 -c <this file> --port P --mode MODE --username U --password P --authorize-url URL
It prints `ready` once it accepts connections and stops when its standard input closes.

Besides the broker API (openbrokerapi's blueprint, mounted in our own Flask app) it serves:
  GET /dashboard/<instance_id>  -> 302 to the authorization endpoint with the catalog's client_id
  GET /docs                     -> HTML in English or French (Accept-Language)
  GET /_state                   -> what the broker still holds (instances and bindings)

MODE is `conformant` (everything synchronous), `conformant-async` (provision, bind,
unbind and deprovision all asynchronous, polled through last_operation with Retry-After and
the `operation` checked), or a broken one:
  wrong-codes              provision answers 200 instead of 201; DELETE of an unknown instance 404
  async-no-last-operation  provision answers 202, last_operation answers 501
  failed-provision         provision creates the instance, then fails with 500
  slow                     provision creates the instance, then sleeps past any test timeout
  huge-catalog             a catalog of several MiB, streamed without a Content-Length
  invalid-json             the catalog is not JSON
  duplicate-plan-ids       two plans share an id
  bad-plan-schema          a plan schema without $schema and with an external $ref
  no-auth                  any credentials are accepted (no 401)
  wrong-dashboard-client   the dashboard redirects with another client_id
  concurrency-error        provision answers 422 ConcurrencyError (no orphan mitigation then)
"""

import argparse
import json
import logging
import sys
import threading
import time
from urllib.parse import urlencode

from flask import Flask, Response, request
from werkzeug.serving import make_server

from openbrokerapi import api, errors
from openbrokerapi.helper import _to_dict
from openbrokerapi.auth import BrokerCredentials, NoneBrokerAuthenticator
from openbrokerapi.service_broker import (
    Binding,
    BindState,
    DeprovisionServiceSpec,
    GetBindingSpec,
    GetInstanceDetailsSpec,
    LastOperation,
    OperationState,
    ProvisionedServiceSpec,
    ProvisionState,
    ServiceBroker,
    UnbindSpec,
)

SERVICE_ID = "5f1d7a4e-3b0c-4d1e-9a59-6c0b9a2f0c11"
CLIENT_ID = "vitrine-test-dashboard"
SLOW_SECONDS = 8


class Obj:
    """A catalog entry that openbrokerapi serialises by its attributes (None ones dropped)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def draft4(properties):
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": properties,
    }


def catalog_for(mode, base_url):
    small_schemas = {
        "service_instance": {
            "create": {"parameters": draft4({"size": {"type": "integer", "minimum": 1}})},
            "update": {"parameters": draft4({"size": {"type": "integer", "minimum": 1}})},
        },
        "service_binding": {"create": {"parameters": draft4({"role": {"type": "string"}})}},
    }
    if mode == "bad-plan-schema":
        small_schemas["service_instance"]["create"]["parameters"] = {
            "type": "object",
            "properties": {"size": {"$ref": "https://schemas.example.com/size.json"}},
        }
    plans = [
        Obj(
            id="a1f3c0de-0000-4000-8000-000000000001",
            name="small",
            description="A small instance.",
            free=True,
            schemas=small_schemas,
            maintenance_info={"version": "1.2.3+build.7", "description": "OS update"},
        ),
        Obj(
            id="a1f3c0de-0000-4000-8000-000000000002",
            name="large",
            description="A large instance.",
            free=False,
            maximum_polling_duration=60,
        ),
    ]
    if mode == "duplicate-plan-ids":
        plans[1].id = plans[0].id
    if mode == "huge-catalog":
        for i in range(40000):
            plans.append(
                Obj(
                    id="padding-%06d" % i,
                    name="padding-%06d" % i,
                    description="A plan that only makes the catalog large. " * 2,
                )
            )
    return [
        Obj(
            id=SERVICE_ID,
            name="vitrine-test-db",
            description="A database for vitrine's tests.",
            bindable=True,
            instances_retrievable=True,
            bindings_retrievable=True,
            plan_updateable=False,
            tags=["test", "database"],
            dashboard_client={
                "id": CLIENT_ID,
                "secret": "dashboard-client-secret",
                "redirect_uri": base_url + "/dashboard/callback",
            },
            plans=plans,
        )
    ]


class TestBroker(ServiceBroker):
    def __init__(self, mode, base_url):
        self.mode = mode
        self.base_url = base_url
        self.lock = threading.Lock()
        # instance_id -> {"service_id", "plan_id", "state", "polls", "operation"}
        self.instances = {}
        # (instance_id, binding_id) -> same
        self.bindings = {}
        self._catalog = catalog_for(mode, base_url)

    @property
    def asynchronous(self):
        return self.mode in ("conformant-async", "async-no-last-operation")

    def catalog(self):
        return self._catalog

    # -- instances ---------------------------------------------------------------------------

    def provision(self, instance_id, details, async_allowed, **kwargs):
        if self.asynchronous and not async_allowed:
            raise errors.ErrAsyncRequired()
        dashboard_url = "%s/dashboard/%s" % (self.base_url, instance_id)
        with self.lock:
            if instance_id in self.instances:
                raise errors.ErrInstanceAlreadyExists()
            operation = "provision-" + instance_id
            self.instances[instance_id] = {
                "service_id": details.service_id,
                "plan_id": details.plan_id,
                "state": "creating" if self.asynchronous else "ready",
                "polls": 0,
                "operation": operation,
            }
        if self.mode == "failed-provision":
            raise RuntimeError("the backing database is down")
        if self.mode == "slow":
            time.sleep(SLOW_SECONDS)
        if self.asynchronous:
            return ProvisionedServiceSpec(ProvisionState.IS_ASYNC, dashboard_url, operation)
        if self.mode == "wrong-codes":
            return ProvisionedServiceSpec(ProvisionState.IDENTICAL_ALREADY_EXISTS, dashboard_url)
        return ProvisionedServiceSpec(ProvisionState.SUCCESSFUL_CREATED, dashboard_url)

    def get_instance(self, instance_id, **kwargs):
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None or instance["state"] != "ready":
                raise errors.ErrInstanceDoesNotExist()
            return GetInstanceDetailsSpec(
                instance["service_id"],
                instance["plan_id"],
                "%s/dashboard/%s" % (self.base_url, instance_id),
            )

    def deprovision(self, instance_id, details, async_allowed, **kwargs):
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise errors.ErrInstanceDoesNotExist()
            if self.mode == "conformant-async":
                if not async_allowed:
                    raise errors.ErrAsyncRequired()
                instance["state"] = "deleting"
                instance["polls"] = 0
                instance["operation"] = "deprovision-" + instance_id
                return DeprovisionServiceSpec(True, instance["operation"])
            del self.instances[instance_id]
            return DeprovisionServiceSpec(False)

    def last_operation(self, instance_id, operation_data, **kwargs):
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise errors.ErrInstanceDoesNotExist()
            if operation_data != instance["operation"]:
                return LastOperation(OperationState.FAILED, "the operation was not echoed back")
            instance["polls"] += 1
            if instance["polls"] < 2:
                return LastOperation(OperationState.IN_PROGRESS, "working on it")
            if instance["state"] == "deleting":
                del self.instances[instance_id]
            else:
                instance["state"] = "ready"
            return LastOperation(OperationState.SUCCEEDED, "done")

    # -- bindings ----------------------------------------------------------------------------

    def bind(self, instance_id, binding_id, details, async_allowed, **kwargs):
        asynchronous = self.mode == "conformant-async"
        if asynchronous and not async_allowed:
            raise errors.ErrAsyncRequired()
        with self.lock:
            if instance_id not in self.instances:
                raise errors.ErrInstanceDoesNotExist()
            key = (instance_id, binding_id)
            if key in self.bindings:
                raise errors.ErrBindingAlreadyExists()
            operation = "bind-" + binding_id
            self.bindings[key] = {
                "state": "creating" if asynchronous else "ready",
                "polls": 0,
                "operation": operation,
            }
        if asynchronous:
            return Binding(BindState.IS_ASYNC, operation=operation)
        return Binding(credentials=self.credentials(binding_id))

    def credentials(self, binding_id):
        return {
            "uri": "postgres://user-%s:very-secret@db.example.com:5432/app" % binding_id[:8],
            "password": "very-secret",
        }

    def get_binding(self, instance_id, binding_id, **kwargs):
        with self.lock:
            binding = self.bindings.get((instance_id, binding_id))
            if binding is None or binding["state"] != "ready":
                raise errors.ErrBindingDoesNotExist()
        return GetBindingSpec(credentials=self.credentials(binding_id))

    def unbind(self, instance_id, binding_id, details, async_allowed, **kwargs):
        with self.lock:
            key = (instance_id, binding_id)
            binding = self.bindings.get(key)
            if binding is None:
                raise errors.ErrBindingDoesNotExist()
            if self.mode == "conformant-async":
                if not async_allowed:
                    raise errors.ErrAsyncRequired()
                binding["state"] = "deleting"
                binding["polls"] = 0
                binding["operation"] = "unbind-" + binding_id
                return UnbindSpec(True, binding["operation"])
            del self.bindings[key]
            return UnbindSpec(False)

    def last_binding_operation(self, instance_id, binding_id, operation_data, **kwargs):
        with self.lock:
            key = (instance_id, binding_id)
            binding = self.bindings.get(key)
            if binding is None:
                # Gone: only right while polling a delete, which is when it happens here.
                return LastOperation(OperationState.SUCCEEDED, "gone")
            if operation_data != binding["operation"]:
                return LastOperation(OperationState.FAILED, "the operation was not echoed back")
            binding["polls"] += 1
            if binding["polls"] < 2:
                return LastOperation(OperationState.IN_PROGRESS, "working on it")
            if binding["state"] == "deleting":
                del self.bindings[key]
            else:
                binding["state"] = "ready"
            return LastOperation(OperationState.SUCCEEDED, "done")

    def state(self):
        with self.lock:
            return {
                "instances": sorted(self.instances),
                "bindings": sorted("%s/%s" % key for key in self.bindings),
            }


DOCS = {
    "en": "<!doctype html><html lang=\"en\"><head><title>Docs</title></head>"
    "<body><h1>How to use the test database</h1></body></html>",
    "fr": "<!doctype html><html lang=\"fr\"><head><title>Docs</title></head>"
    "<body><h1>Utiliser la base de test</h1></body></html>",
}


def make_app(args):
    base_url = "http://127.0.0.1:%d" % args.port
    broker = TestBroker(args.mode, base_url)
    logger = logging.getLogger("test-broker")
    logger.setLevel(logging.CRITICAL)
    if args.mode == "no-auth":
        blueprint = api.get_blueprint(
            broker, None, logger, authenticator=NoneBrokerAuthenticator()
        )
    else:
        blueprint = api.get_blueprint(
            broker, BrokerCredentials(args.username, args.password), logger
        )

    app = Flask("vitrine-test-broker")

    @app.before_request
    def broken_modes():
        path = request.path
        if args.mode == "invalid-json" and path == "/v2/catalog":
            return Response('{"services": [{"name": "db", ', 200, mimetype="application/json")
        if args.mode == "huge-catalog" and path == "/v2/catalog":
            body = json.dumps({"services": _to_dict(broker.catalog())}).encode()

            # Streamed in chunks without a Content-Length: the checker has to stop reading.
            def chunks():
                for at in range(0, len(body), 65536):
                    yield body[at : at + 65536]

            return Response(chunks(), 200, mimetype="application/json")
        if args.mode == "async-no-last-operation" and path.endswith("/last_operation"):
            return Response('{"description": "not implemented"}', 501, mimetype="application/json")
        if (
            args.mode == "concurrency-error"
            and request.method == "PUT"
            and path.count("/") == 3
            and path.startswith("/v2/service_instances/")
        ):
            body = json.dumps(
                {
                    "error": "ConcurrencyError",
                    "description": "Another operation for this Service Instance is in progress.",
                }
            )
            return Response(body, 422, mimetype="application/json")
        if (
            args.mode == "wrong-codes"
            and request.method == "DELETE"
            and path.count("/") == 3
            and path.startswith("/v2/service_instances/")
            and path.rsplit("/", 1)[1] not in broker.instances
        ):
            return Response("{}", 404, mimetype="application/json")
        return None

    app.register_blueprint(blueprint)

    @app.after_request
    def retry_after(response):
        # Honoured by the checker: one second between polls of an operation in progress.
        if request.path.endswith("/last_operation") and response.status_code == 200:
            if (response.get_json(silent=True) or {}).get("state") == "in progress":
                response.headers["Retry-After"] = "1"
        return response

    @app.route("/dashboard/<instance_id>")
    def dashboard(instance_id):
        client_id = "someone-else" if args.mode == "wrong-dashboard-client" else CLIENT_ID
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": base_url + "/dashboard/callback",
                "state": instance_id,
            }
        )
        return Response("", 302, {"Location": args.authorize_url + "?" + query})

    @app.route("/docs")
    def docs():
        language = request.accept_languages.best_match(["en", "fr"]) or "en"
        return Response(
            DOCS[language], 200, {"Content-Language": language}, mimetype="text/html"
        )

    @app.route("/_state")
    def state():
        return Response(json.dumps(broker.state()), 200, mimetype="application/json")

    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="conformant")
    parser.add_argument("--username", default="broker")
    parser.add_argument("--password", default="broker-password")
    parser.add_argument("--authorize-url", default="http://127.0.0.1:9/oauth/authorize")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", args.port, make_app(args), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    # Stop when the harness closes our standard input (or dies).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
