# Two commands: `make up` runs Garde with demo data, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install up test lint bench clean system-packages ohif

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

up: install
	@$(MAKE) --no-print-directory ohif || echo "Garde runs without its OHIF viewer at /ohif"
	$(BIN)/garde up --demo

# OHIF's prebuilt viewer (npm's @ohif/app, its version pinned in web/ohif_install.py), unpacked
# for `garde web` to serve at /ohif; npm's cache keeps it. Without npm: said, not a failure;
# `make up` goes on without it when npm fails (offline, its cache empty).
ohif: install
	$(BIN)/python -m web.ohif_install

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Four test processes even on two CPUs: the tests mostly wait on the servers they start
# (Temporal, the web app, the worker), so two left the CPUs idle half the time.
test: lint
	$(BIN)/pytest -n 4

# Debian's packages the tests use, each only when missing: chromium (browser tests), dcmtk
# (DICOM clients: storescu, echoscu, dcmsend), poppler-utils (pdftotext reads the PDFs),
# orthanc (a site's PACS pushing a study to the gateway), npm (`make ohif`); orthanc-dicomweb
# (Orthanc's DICOMweb plugin, for `bench.retrieve`: a file, not a command).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := chromium:chromium dcmtk:storescu orthanc:/usr/sbin/Orthanc poppler-utils:pdftotext npm:npm orthanc-dicomweb:/usr/share/orthanc/plugins/libOrthancDicomWeb.so
system-packages:
	@missing=""; for p in $(PACKAGES); do command -v $${p#*:} >/dev/null || [ -e $${p#*:} ] || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; fi

bench: install
	$(BIN)/python -m bench.lifecycle
	$(BIN)/python -m bench.open_loop
	$(BIN)/python -m bench.open_bare
	$(BIN)/python -m bench.simulate_night
	$(BIN)/python -m bench.oncall
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.retrieve
	$(BIN)/python -m bench.profile

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
