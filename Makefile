VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
PYTHON ?= python3
CATALOGS := $(wildcard drillmgr/translations drillmgr/*/translations)

.PHONY: run test install translations messages

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

translations: install
	@for dir in $(CATALOGS); do $(BIN)/pybabel -q compile --use-fuzzy -d $$dir -f || exit 1; done

run: translations
	$(BIN)/drillmgr db upgrade
	$(BIN)/drillmgr seed-demo --if-empty
	@# The scheduler (reminders, alerts, mail) runs beside the web server and stops with it.
	$(BIN)/drillmgr scheduler & scheduler=$$!; \
	trap 'kill $$scheduler 2>/dev/null; wait $$scheduler' EXIT INT TERM; \
	$(BIN)/drillmgr run --host 127.0.0.1 --port $(PORT)

test: translations tests/js/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# The servers and commands the tests start import drillmgr afresh: compiled once here, not in each of them
	@# where PYTHONDONTWRITEBYTECODE is set (as on the CI machines).
	$(BIN)/python -m compileall -q drillmgr
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

# ical.js (the parser behind Thunderbird) for the calendar feed tests, from tests/js/package-lock.json
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

# Extract the messages of one feature (its package, templates and drillmgr/api/<feature>.py) into its
# catalogue: make messages FEATURE=drills. FEATURE=core: the shared code and templates. The folder is named
# zh_Hans_CN, as Babel names the locale zh_CN, so that Flask-Babel finds every catalogue by itself.
messages: install
	$(BIN)/pybabel -q extract -F drillmgr/babel.cfg -k _l -k lazy_pgettext:1c,2 -o /tmp/drillmgr-$(FEATURE).pot \
		$(if $(filter core,$(FEATURE)),drillmgr/*.py drillmgr/access drillmgr/accounts drillmgr/audit drillmgr/demo drillmgr/orgs drillmgr/home drillmgr/api drillmgr/regions templates/*.html templates/accounts templates/orgs templates/home templates/errors,drillmgr/$(FEATURE) templates/$(FEATURE) $(wildcard drillmgr/api/$(FEATURE).py))
	test -f $(if $(filter core,$(FEATURE)),drillmgr,drillmgr/$(FEATURE))/translations/zh_Hans_CN/LC_MESSAGES/messages.po \
		&& $(BIN)/pybabel -q update --no-fuzzy-matching -i /tmp/drillmgr-$(FEATURE).pot -d $(if $(filter core,$(FEATURE)),drillmgr,drillmgr/$(FEATURE))/translations -l zh_Hans_CN \
		|| $(BIN)/pybabel -q init -i /tmp/drillmgr-$(FEATURE).pot -d $(if $(filter core,$(FEATURE)),drillmgr,drillmgr/$(FEATURE))/translations -l zh_Hans_CN
