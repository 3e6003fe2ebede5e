# normlab — `make` builds ./normlab (objects under build/), `make run` opens the lab,
# `make test` builds and runs every test, `make bench` prints the benchmark figures.
#
#   make SAN=1 test    the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make CUDA=0        skip the CUDA backend even where nvcc is found
#   make MPI=1         data-parallel `mpirun -np N normlab train` (installs Debian's Open MPI
#                      when run as root and it is missing); MPI=0 the plain build; by default
#                      MPI is used where mpicc is found
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
CC ?= cc
SAN ?= 0
CUDA ?= auto

ifeq ($(SAN),1)
B := build/san
BIN := build/san/normlab
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1 -g
else
B := build
BIN := ./normlab
SANFLAGS :=
OPT := -O3 -march=native -g
endif

CFLAGS := -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -fopenmp -I. \
          -D_GNU_SOURCE -D_XOPEN_SOURCE_EXTENDED $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS := -lopenblas -lyaml -lzstd -lncursesw -lpthread -ldl -lm
LDFLAGS := -fopenmp $(SANFLAGS) -rdynamic

# Data parallel (engine/dist.h): engine/dist_mpi.c built with MPI's flags where mpicc is
# found, engine/dist_none.c otherwise; the binary is ./normlab either way.
MPI ?= auto
ifneq ($(MPI),0)
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(MPI)$(strip $(MPICC)),1)
ifeq ($(shell id -u),0)
$(info MPI: mpicc not found; installing Debian's openmpi-bin libopenmpi-dev)
MPI_APT := $(shell { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
             openmpi-bin libopenmpi-dev || { apt-get update && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends openmpi-bin libopenmpi-dev; }; } >&2)
override MPICC := $(shell command -v mpicc 2>/dev/null)
else
$(error MPI=1: mpicc not found; run: sudo apt-get install -y openmpi-bin libopenmpi-dev)
endif
endif
endif
ifneq ($(strip $(MPICC)),)
MPI_CFLAGS ?= $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS ?= $(shell $(MPICC) --showme:link 2>/dev/null)
DIST := mpi
DIST_SAY := MPI: found ($(MPICC)), data-parallel train enabled
else
DIST := none
DIST_SAY := MPI: $(if $(filter 0,$(MPI)),off (MPI=0),not found), plain build
endif
LDLIBS += $(MPI_LIBS)

LIB_SRC := $(filter-out engine/dist_%.c,$(wildcard engine/*.c)) engine/dist_$(DIST).c \
           $(wildcard kernels/cpu/*.c) $(wildcard ui/*.c) \
           $(filter-out app/main.c,$(wildcard app/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/default_preset.o $(B)/gen/lessons.o
LESSON_FILES := $(sort $(wildcard lessons/*.yaml))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)

# Debian packages the build needs: header -> package
DEPS_CHECK := /usr/include/yaml.h:libyaml-dev /usr/include/zstd.h:libzstd-dev \
              /usr/include/ncursesw/curses.h:libncurses-dev \
              /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:libopenblas-dev

.PHONY: all run test bench gemm-ab gemm-ab-build install clean deps check-deps cuda fuzz fuzz-build say-found
all: deps say-found $(BIN) cuda

say-found:
	@echo "$(DIST_SAY)"

deps: build/.deps-ok
build/.deps-ok: Makefile
	@missing=""; for hp in $(DEPS_CHECK); do h=$${hp%%:*}; p=$${hp##*:}; \
	  if [ ! -e "$$h" ] && ! ls $$(dirname $$h)/../*/$$(basename $$h) >/dev/null 2>&1 && \
	     ! dpkg -s $$p >/dev/null 2>&1; then missing="$$missing $$p"; fi; done; \
	  command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing:$$missing"; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential $$missing || \
	      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential $$missing; } || exit 1; \
	    else \
	      echo "normlab needs these Debian packages; run:"; \
	      echo "  sudo apt-get install -y build-essential$$missing"; exit 1; \
	    fi; \
	  fi
	@mkdir -p build && touch $@

$(BIN): $(B)/app/main.o $(B)/libnormlab.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libnormlab.a: $(LIB_OBJ) $(B)/.dist-$(DIST)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

# which dist_*.c the library holds: switching MPI on or off rebuilds it
$(B)/.dist-$(DIST):
	@mkdir -p $(@D) && rm -f $(B)/.dist-* && touch $@
$(B)/engine/dist_mpi.o: CFLAGS += $(MPI_CFLAGS)
# The CPU ops' elementwise loops: sqrt without errno (so AdamW's loop vectorises) and, on
# x86, full-width AVX-512 vectors where -march=native finds them (GCC picks 256-bit by default).
# -Wno-psabi: where the build targets no AVX (the sanitizer build), the ops' static inline
# helpers on 32-byte vectors draw GCC's note that such a vector passed by value has another ABI
# than with AVX; nothing outside the file calls them, so no ABI is crossed.
OPS_CFLAGS := -fno-math-errno -Wno-psabi
ifeq ($(shell uname -m),x86_64)
OPS_CFLAGS += -mprefer-vector-width=512
endif
$(B)/kernels/cpu/ops_f32.o: CFLAGS += $(OPS_CFLAGS)

$(B)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The embedded default preset: presets/default.yaml as a C byte array.
$(sort build/gen/default_preset.c $(B)/gen/default_preset.c): presets/default.yaml
	@mkdir -p $(@D)
	@{ echo '/* generated from presets/default.yaml by the Makefile */'; \
	   echo 'const char nl_default_preset_yaml[] = {'; \
	   od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00};'; \
	   echo "const unsigned nl_default_preset_yaml_len = $$(wc -c < $<);"; } > $@
$(B)/gen/default_preset.o: $(B)/gen/default_preset.c
	$(CC) $(CFLAGS) -c $< -o $@

# The lessons: every lessons/NAME.yaml as a C byte array, in a table sorted by name
# (engine/lesson.h), so `normlab lesson NAME` needs no file at run time.
$(sort build/gen/lessons.c $(B)/gen/lessons.c): $(LESSON_FILES) lessons Makefile
	@mkdir -p $(@D)
	@{ echo '/* generated from lessons/NAME.yaml by the Makefile */'; \
	   echo '#include "engine/lesson.h"'; \
	   i=0; for f in $(LESSON_FILES); do \
	     echo "static const char lesson_$$i[] = {"; \
	     od -An -v -tx1 $$f | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	     echo '0x00};'; i=$$((i + 1)); done; \
	   echo 'const nl_lesson_file nl_lesson_files[] = {'; \
	   i=0; for f in $(LESSON_FILES); do \
	     echo "    {\"$$(basename $$f .yaml)\", lesson_$$i, $$(wc -c < $$f)},"; i=$$((i + 1)); done; \
	   echo '    {0, 0, 0}};'; \
	   echo 'const int nl_lesson_files_count = $(words $(LESSON_FILES));'; } > $@
$(B)/gen/lessons.o: $(B)/gen/lessons.c engine/lesson.h engine/config.h
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/tests/%: tests/%.c $(B)/libnormlab.a $(wildcard tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libnormlab.a $(LDFLAGS) $(LDLIBS)

# test_noalloc counts the engine's heap allocations by wrapping the allocator at link time.
$(B)/tests/test_noalloc: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

# The CUDA backend, built only where nvcc is found (kernels/cuda/cuda.mk).
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(CUDA),0)
cuda:
	@true
else ifeq ($(strip $(NVCC)),)
cuda:
	@true
else ifeq ($(wildcard kernels/cuda/cuda.mk),)
cuda:
	@true
else
include kernels/cuda/cuda.mk
endif

run: all
	./normlab

test: all $(TEST_BIN)
	@NORMLAB_SAN=$(SAN) NORMLAB_BUILD=$(B) NORMLAB_BIN=$(BIN) NORMLAB_MAKE="$(MAKE)" sh tests/run.sh

# libFuzzer harnesses (tests/fuzz/, clang only): the readers of untrusted files, built with
# ASan + UBSan into build/fuzz/. `make fuzz FUZZ_S=N` runs each for N seconds on a copy of its
# seed corpus (tests/fuzz/corpus/NAME) and regression inputs (tests/fuzz/regress/NAME); an
# input that crashes is written to build/fuzz/crashes/NAME/ and belongs in regress/ once fixed.
FUZZ_CC ?= clang
FUZZ_S ?= 60
FUZZ_NAMES := preset ckpt data safetensors tail
FUZZ_LIB_SRC := engine/config.c engine/config_names.c engine/config_suggest.c \
                engine/config_write.c engine/config_check.c engine/config_yaml.c engine/config_yaml_node.c \
                engine/config_yaml_lists.c engine/lesson.c engine/lesson_yaml.c \
                engine/error.c engine/data.c engine/markov.c engine/prose.c engine/rng.c \
                engine/ckpt.c engine/ckpt_dir.c engine/ckpt_io.c engine/fsutil.c engine/clock.c \
                engine/safetensors.c engine/metrics.c engine/xalloc.c engine/csv.c \
                engine/json_text.c ui/tail.c ui/runview.c ui/history.c ui/term.c ui/grid.c
FUZZ_B := build/fuzz
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
               -Wno-unused-parameter -Wno-unknown-pragmas -I. -Itests/fuzz \
               -D_GNU_SOURCE -D_XOPEN_SOURCE_EXTENDED -fno-sanitize-recover=undefined
FUZZ_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_B)/%.o) $(FUZZ_B)/gen/default_preset.o $(FUZZ_B)/gen/lessons.o
FUZZ_BIN := $(FUZZ_NAMES:%=$(FUZZ_B)/fuzz_%)

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
$(FUZZ_B)/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_B)/libfuzznl.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_B)/libfuzznl.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_B)/libfuzznl.a \
	  -lyaml -lzstd -lncursesw -lm

fuzz-build: deps $(FUZZ_BIN)

fuzz: fuzz-build
	@FUZZ_S=$(FUZZ_S) sh tests/fuzz/run.sh $(FUZZ_NAMES)

# CPU presets in bench/; GPU presets in bench/cuda/ run only where a CUDA device answers.
bench: all
	for p in bench/*.yaml; do ./normlab bench "$$p" --device cpu || exit 1; done
	@if ./normlab bench bench/cuda/default.yaml --device cuda --steps 1 --warmup 0 >/dev/null 2>&1; then \
	  for p in bench/cuda/*.yaml; do ./normlab bench "$$p" --device cuda || exit 1; done; \
	else echo "bench/cuda/*.yaml skipped: no CUDA device or backend (./normlab bench --device cuda says why)"; fi

# The products' kernel (kernels/cpu/gemm.c) against a variant of it, timed in turns in one
# process (bench/gemm_ab.c says how): make gemm-ab VARIANT=my_gemm.c [ROUNDS=11] [AB_ARGS=...]
# (AB_ARGS: --d D --tokens N --vocab V). Rebuilt every time, since the variant is any file.
VARIANT ?= kernels/cpu/gemm.c
ROUNDS ?= 11
AB_RENAME = -Dnl_gemm_f32=$(1)_gemm -Dnl_gemm_f32_ep=$(1)_gemm_ep -Dnl_gemm_f32_enabled=$(1)_gemm_enabled
gemm-ab-build:
	@mkdir -p $(B)/bench
	$(CC) $(CFLAGS) -Ikernels/cpu $(call AB_RENAME,base) -c kernels/cpu/gemm.c -o $(B)/bench/gemm_base.o
	$(CC) $(CFLAGS) -Ikernels/cpu $(call AB_RENAME,var) -c $(VARIANT) -o $(B)/bench/gemm_var.o
	$(CC) $(CFLAGS) -o $(B)/bench/gemm_ab bench/gemm_ab.c $(B)/bench/gemm_base.o $(B)/bench/gemm_var.o

gemm-ab: gemm-ab-build
	$(B)/bench/gemm_ab --rounds $(ROUNDS) $(AB_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/normlab $(DESTDIR)$(PREFIX)/share/normlab/presets \
	  $(DESTDIR)$(PREFIX)/share/normlab/lessons
	install -m 755 normlab $(DESTDIR)$(PREFIX)/bin/normlab
	install -m 644 presets/*.yaml $(DESTDIR)$(PREFIX)/share/normlab/presets/
	install -m 644 lessons/*.yaml $(DESTDIR)$(PREFIX)/share/normlab/lessons/
	if [ -f build/libnormlab_cuda.so ]; then install -m 755 build/libnormlab_cuda.so $(DESTDIR)$(PREFIX)/lib/normlab/; fi

clean:
	rm -rf build normlab

-include $(shell find build -name '*.d' 2>/dev/null)
