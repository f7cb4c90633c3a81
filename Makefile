# dino4j — every command a user needs. Variables can be overridden on the command line:
#   make train CONFIG=configs/fmnist-tiny.yaml DATA=/path/to/data ARGS="--set train.epochs=5"
CONFIG ?= configs/fmnist-tiny.yaml
DATA ?=
IMAGE ?=
OUT ?=
ARGS ?=
RUN ?= runs/fmnist-tiny
WEIGHTS ?=
WEIGHTS_OUT ?= weights.safetensors
BENCH_CONFIG ?= configs/bench-a.yaml
BENCH_STEPS ?= 20
BENCH_ROUNDS ?= 1
ACCURACY_RUN ?= runs/accuracy
PARITY_OUT ?= runs/parity
PARITY_ARGS ?=
FUZZ_SECONDS ?= 60
MVN ?= mvn -B -q
MVN_TEST ?= mvn -B -ntp -Dstyle.color=never
JAVA_OPTS ?= -Xmx8g
export JAVA_OPTS
# TF's native runtime prints INFO lines unless told otherwise.
export TF_CPP_MIN_LOG_LEVEL ?= 1

SOURCES := $(shell find src/main -type f 2>/dev/null) pom.xml

N ?= 2
.PHONY: build kernels test test-slow test-all demo report config-reference train train-local-cluster bench bench-vits bench-local-cluster bench-options bench-data preview data import export-weights export eval eval-benchmark accuracy parity fuzz clean

## build: compile, collect the runtime classpath in target/lib, build the fused kernels
build: target/.built kernels
target/.built: $(SOURCES)
	$(MVN) -DskipTests package
	@touch $@

## kernels: dino4j's fused CPU ops (LayerNorm, bias+GELU, residual, qkv layout, attention matmuls, softmax
##   gradient, AdamW, EMA), target/native/libdino4j_kernels.so (needs g++; without one training uses TF's
##   stock ops, and says so in its log)
kernels: target/native/libdino4j_kernels.so
target/native/libdino4j_kernels.so: src/main/native/dino4j_kernels.cc src/main/native/tf_kernel_api.h scripts/build-kernels.sh target/.built
	scripts/build-kernels.sh

## test: the default test suite (unit + numeric reference tests), about 5 minutes on a quiet 2-core machine
test: build
	$(MVN_TEST) test

## test-slow: end-to-end tests tagged "slow" (CLI training runs); CI runs these too
test-slow: build
	$(MVN_TEST) test -Dtest.excludedGroups= -Dtest.groups=slow -Dsurefire.failIfNoSpecifiedTests=false

test-all: test test-slow

## fuzz: coverage-guided fuzzing (Jazzer) of the readers of untrusted files, FUZZ_SECONDS (default 60) per target,
##   one target after another: image decoder, safetensors, IDX, CIFAR-10, stored file index, YAML config, state.json.
##   Each starts from its committed inputs (src/test/resources/dev/dino4j/fuzz/*Inputs/); a finding is saved there
##   as crash-<sha1> and fails the run. The targets are tagged "fuzz" and left out of make test (~85 s for their inputs alone)
fuzz: build
	scripts/fuzz.sh $(FUZZ_SECONDS)

## data: the built-in default dataset, Fashion-MNIST (Debian package, else a download)
data:
	@scripts/fetch-fashion-mnist.sh

## train: train CONFIG (default: the tiny Fashion-MNIST recipe) on DATA (default: its own dataset)
train: build
	@if [ -z "$(DATA)" ] && grep -qE '^\s*source:\s*fashion-mnist' $(CONFIG); then scripts/fetch-fashion-mnist.sh; fi
	bin/dino4j train --config $(CONFIG) $(if $(DATA),--data $(DATA)) $(if $(OUT),--output $(OUT)) $(ARGS)

## demo: a ~15-minute demo into runs/demo/: the tiny recipe for 4 epochs, the 20-NN table against raw pixels
##   and random init, learning curves, attention maps of 4 test images, the augmentation preview
demo: build data
	scripts/demo.sh

## report: RUN's report.png from its metrics.jsonl (loss, teacher entropy vs ln K, KL, k-NN, schedules)
report: build
	bin/dino4j report $(RUN) $(ARGS)

## config-reference: regenerate docs/config.md from the config schema (a test fails when they differ)
config-reference: build
	bin/dino4j config --reference > docs/config.md

## train-local-cluster: train CONFIG data-parallel on N local workers (loopback; train.batch_size = global batch)
train-local-cluster: build
	@if [ -z "$(DATA)" ] && grep -qE '^\s*source:\s*fashion-mnist' $(CONFIG); then scripts/fetch-fashion-mnist.sh; fi
	CLUSTER_LOGS=$(if $(OUT),$(OUT),runs/local-cluster) scripts/local-cluster.sh $(N) train --config $(CONFIG) $(if $(DATA),--data $(DATA)) $(if $(OUT),--output $(OUT)) $(ARGS)

## bench-local-cluster: images/s of 1 worker, then of N local workers, and the all-reduce share of a step
bench-local-cluster: build
	bin/dino4j bench --config $(BENCH_CONFIG) --steps $(BENCH_STEPS) $(ARGS)
	scripts/local-cluster.sh $(N) bench --config $(BENCH_CONFIG) --steps $(BENCH_STEPS) $(ARGS)

## bench: dino4j vs PyTorch (src/python/bench_torch.py in the venv), fp32 and bf16, alternating, config A:
##   images/s, GFLOP/s, MFU against matmul peaks measured in the same run, peak RSS, ratios (~2-3 minutes a round)
bench: build
	bin/dino4j bench --compare --config $(BENCH_CONFIG) --steps $(BENCH_STEPS) --rounds $(BENCH_ROUNDS) \
		--python "$$(scripts/python-venv.sh)" $(ARGS)

## bench-vits: the same for ViT-S/16 at 224 px, 2 global + 8 local 96-px views, batch 32 (slow: 1.6 img/s fp32, 3.1 bf16 on an AMX Xeon; ~10 GiB a run; ~12 minutes)
bench-vits: build
	bin/dino4j bench --compare --config configs/vit-s16-imagenet.yaml --set train.batch_size=32 --steps 3 --warmup 1 \
		--rounds $(BENCH_ROUNDS) --python "$$(scripts/python-venv.sh)" $(ARGS)

## bench-options: the step cost of each DINOv2 option (KoLeo, Sinkhorn-Knopp, registers, LayerScale, iBOT) and of the conv stem on config A, fp32,
##   against the DINO v1 step, alternating rounds (BENCH_STEPS, BENCH_ROUNDS=3; ~10 minutes)
bench-options: build
	scripts/bench-options.sh

## bench-data: data loading: decode and multi-crop ms/image, images/s per worker thread (ViT-S/16 views of generated 500x375 JPEGs), and the tiny recipe's share of step time waiting for data
bench-data: build data
	bin/dino4j bench-data $(ARGS)

## preview: PNG grid of CONFIG's augmentation, one row per image (original, global views, local views): IMAGE (file or folder; default: CONFIG's dataset at DATA) -> OUT (default preview.png)
preview: build
	@if [ -z "$(IMAGE)$(DATA)" ] && grep -qE '^\s*source:\s*fashion-mnist' $(CONFIG); then scripts/fetch-fashion-mnist.sh; fi
	bin/dino4j preview $(IMAGE) --config $(CONFIG) $(if $(DATA),--set data.path=$(DATA)) $(if $(OUT),--out $(OUT)) $(ARGS)

## export: RUN's teacher backbone as a SavedModel: savedmodels/<run name>/<next version>/
export: build
	bin/dino4j export $(RUN) $(ARGS)

## eval: k-NN (10/20/100/200-NN, T = 0.07) of RUN's teacher on its dataset's test split; features cached in RUN/features
eval: build
	bin/dino4j knn $(RUN) --features-dir $(RUN)/features $(ARGS)

## accuracy: the accuracy benchmark: train the tiny recipe for its fixed budget into ACCURACY_RUN (resumes if
##   stopped; a finished run is not retrained), then eval-benchmark on the full test set with the training time:
##   20-NN and the linear probe (cached centre views) of the teacher, raw pixels and the ViT at random init
accuracy: build
	$(MAKE) --no-print-directory train CONFIG=configs/fmnist-tiny.yaml OUT=$(ACCURACY_RUN)
	bin/dino4j eval-benchmark $(ACCURACY_RUN) --features-dir $(ACCURACY_RUN)/features --linear $(ACCURACY_RUN)/linear

## eval-benchmark: 20-NN top-1 on the Fashion-MNIST test set: RUN's teacher vs raw pixels vs the same ViT at random init
eval-benchmark: build
	@scripts/fetch-fashion-mnist.sh
	bin/dino4j eval-benchmark $(RUN) $(ARGS)

## parity: training parity with the official DINO step: a 64-step dino4j run (configs/parity.yaml) replayed by a PyTorch
##   step built the official way, in float32 and float64; prints the loss and final student/teacher/center differences,
##   PyTorch's own float32-vs-float64 drift and the verdict (~2.5 minutes; PARITY_ARGS="--set train.kernels=stock")
parity: build
	@if [ -d "$(PARITY_OUT)" ] && [ -n "$$(ls -A "$(PARITY_OUT)")" ] && [ ! -f "$(PARITY_OUT)/.parity-dump" ]; then \
		echo "$(PARITY_OUT) exists and is not a parity dump; set PARITY_OUT=..." >&2; exit 2; fi
	@rm -rf "$(PARITY_OUT)"
	@mkdir -p "$$(dirname "$(PARITY_OUT)")"
	@echo "dino4j: 64 training steps, log in $(PARITY_OUT).log"
	@bin/dino4j parity-dump --config configs/parity.yaml --out "$(PARITY_OUT)" $(PARITY_ARGS) > "$(PARITY_OUT).log" 2>&1 \
		|| { tail -30 "$(PARITY_OUT).log"; exit 1; }
	@PY="$$(scripts/python-venv.sh)" && \
		"$$PY" src/python/parity_torch.py train --dump "$(PARITY_OUT)" --dtype float32 && \
		"$$PY" src/python/parity_torch.py train --dump "$(PARITY_OUT)" --dtype float64 && \
		"$$PY" src/python/parity_torch.py compare --dump "$(PARITY_OUT)"

## import: WEIGHTS (safetensors, official/timm or Hugging Face names) -> a new run OUT for CONFIG
import: build
	bin/dino4j import $(WEIGHTS) --config $(CONFIG) --output $(OUT) $(ARGS)

## export-weights: RUN's teacher -> WEIGHTS_OUT (official names, PyTorch layouts, safetensors)
export-weights: build
	bin/dino4j export-weights $(RUN) --output $(WEIGHTS_OUT) $(ARGS)

clean:
	$(MVN) clean
