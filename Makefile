# Danbao: `make run` starts the whole platform locally; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install screens run test test-fast bench chaos clean compose-secrets kafka-secrets compose-up compose-down asyncapi

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/danbao dev

# Two workers (pytest-xdist): the tests on the shared platforms in one, everything else beside them (tests/conftest.py).
test: $(STAMP)
	$(BIN)/pytest -q -n 2

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not integration"

# The README's screenshots: the browser tests, saving every page into docs/screens.
screens: $(STAMP)
	DANBAO_SCREENS_DIR=docs/screens $(BIN)/pytest -q tests/integration/test_web_screens.py

bench: $(STAMP)
	$(BIN)/danbao bench

# 500 mixed lifecycles under SIGKILLs and connection cuts, then the audit; then a 20 000-command burst.
chaos: $(STAMP)
	$(BIN)/danbao chaos
	$(BIN)/danbao burst

clean:
	rm -rf $(VENV) .danbao .pytest_cache

# Containers (on a machine with a Docker engine).
deploy/secrets/postgres_password:
	mkdir -p deploy/secrets
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(24), end='')" > deploy/secrets/postgres_password
	for s in onboarding payments escrow disputes notifications; do \
	  printf 'postgresql://danbao:%s@postgres:5432/%s' "$$(cat deploy/secrets/postgres_password)" $$s > deploy/secrets/danbao_$${s}_database_url; done
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > deploy/secrets/danbao_payments_psp_callback_secret
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > deploy/secrets/danbao_payments_payment_token_secret
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > deploy/secrets/danbao_payments_bank_callback_secret
	for s in onboarding_pii_keys notifications_pii_keys contact_seal_keys; do \
	  $(PYTHON) -c "import base64, os; print('k1:' + base64.b64encode(os.urandom(32)).decode(), end='')" > deploy/secrets/danbao_$$s; done
	for s in sms_api_key push_api_key; do \
	  $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > deploy/secrets/danbao_$$s; done

# Its own target, so that a deploy/secrets/ written before disputes talked to an insurer gains it too.
deploy/secrets/danbao_disputes_insurer_callback_secret:
	mkdir -p deploy/secrets
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > $@

# Likewise for a deploy/secrets/ written before payouts carried the verified account sealed for the bank.
deploy/secrets/danbao_bank_account_seal_keys:
	mkdir -p deploy/secrets
	$(PYTHON) -c "import base64, os; print('k1:' + base64.b64encode(os.urandom(32)).decode(), end='')" > $@

# Likewise for a deploy/secrets/ written before the registry's answers were signed.
deploy/secrets/danbao_onboarding_registry_callback_secret:
	mkdir -p deploy/secrets
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > $@

# The web edge's own secrets: its database, session and phone keys, the OIDC client secret (a placeholder: replace it
# with the one your identity provider issued) and notifications' public seal keys; its own targets, so that a
# deploy/secrets/ written before the edge existed gains them.
deploy/secrets/danbao_web_database_url: deploy/secrets/postgres_password
	printf 'postgresql://danbao:%s@postgres:5432/web' "$$(cat deploy/secrets/postgres_password)" > $@
	for s in session_secret phone_key oidc_client_secret; do \
	  $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > deploy/secrets/danbao_web_$$s; done
	$(PYTHON) -c "import base64, os; print('k1:' + base64.b64encode(os.urandom(32)).decode(), end='')" > deploy/secrets/danbao_web_pii_keys

deploy/secrets/danbao_web_notifications_seal_keys: deploy/secrets/danbao_notifications_seal_private_keys
	$(BIN)/python -c "import json, sys; from shared.sealing import SealKeys; print(json.dumps(SealKeys(open(sys.argv[1]).read()).public_jwks()), end='')" $< > $@

# The broker's CA (kafka_ca.pem), its certificate, the admin's client certificate (mTLS) and a SCRAM password
# per principal of the ACL table (kafka_password_<principal>); what exists is kept, a new principal gains one.
kafka-secrets: $(STAMP)
	$(BIN)/python -m ops.kafka_secrets deploy/secrets

# The private keys clients seal personal fields to (a JWK set each; `danbao seal keys <service>` prints the public part).
deploy/secrets/danbao_onboarding_seal_private_keys deploy/secrets/danbao_notifications_seal_private_keys: $(STAMP)
	mkdir -p deploy/secrets
	$(BIN)/danbao seal keygen > $@

# The edges' signing keys (danbao_issuer_<issuer>.json, for each edge only) and the services' trusted issuers.
issuer-keys: $(STAMP)
	$(BIN)/python -m ops.issuers deploy/secrets

compose-secrets: issuer-keys deploy/secrets/postgres_password deploy/secrets/danbao_disputes_insurer_callback_secret \
  deploy/secrets/danbao_onboarding_registry_callback_secret deploy/secrets/danbao_bank_account_seal_keys kafka-secrets \
  deploy/secrets/danbao_onboarding_seal_private_keys deploy/secrets/danbao_notifications_seal_private_keys \
  deploy/secrets/danbao_web_database_url deploy/secrets/danbao_web_notifications_seal_keys

compose-up: compose-secrets
	docker compose -f deploy/compose.yaml up --build -d

compose-down:
	docker compose -f deploy/compose.yaml down

# Regenerate the README's topic table and docs/asyncapi/*.json; validate those with the AsyncAPI parser.
asyncapi: $(STAMP)
	$(BIN)/danbao docs readme
	$(BIN)/danbao docs asyncapi
	cd tools/asyncapi && npm ci --no-audit --no-fund --silent && node validate.mjs ../../docs/asyncapi/*.json
