# The CUDA backend: build/libnormlab_cuda.so, included by the Makefile only where nvcc is found
# and CUDA != 0. ./normlab never links it; engine/backend.c loads it with dlopen.
#
# The object carries sm_90 machine code plus compute_90 PTX (which newer GPUs compile at load),
# the CUDA runtime linked statically (so only the driver and cuBLAS are needed where it runs)
# and cuBLAS as a shared library, found through the rpath of the toolkit it was built with, or
# LD_LIBRARY_PATH.

CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_GENCODE) -Xcompiler -fPIC,-fvisibility=hidden \
             -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror -I. --expt-relaxed-constexpr

# NCCL, for data-parallel train on GPUs (comm.cu, engine/dist.h): used where both its header
# and its library are found; the object then needs libnccl.so.2 where it runs (the rpath
# below, or LD_LIBRARY_PATH). NCCL=0 leaves it out.
NCCL ?= auto
ifneq ($(NCCL),0)
NCCL_H ?= $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/local/include/nccl.h \
                                  /usr/include/nccl.h))
NCCL_LIB ?= $(firstword $(wildcard $(CUDA_HOME)/lib64/libnccl.so /usr/local/lib/libnccl.so \
                                    /usr/lib/x86_64-linux-gnu/libnccl.so))
endif
ifneq ($(and $(NCCL_H),$(NCCL_LIB)),)
NCCL_CFLAGS := -DNL_NCCL -I$(dir $(NCCL_H))
NCCL_LIBS := -L$(dir $(NCCL_LIB)) -lnccl -Xlinker -rpath,$(dir $(NCCL_LIB))
NCCL_SAY := NCCL: found ($(NCCL_H)), data-parallel train on cuda all-reduces with it
else
NCCL_SAY := NCCL: not found, data-parallel train on cuda goes through host memory and MPI
endif
build/kernels/cuda/comm.o: NVCCFLAGS += $(NCCL_CFLAGS)

CUDA_SRC := $(wildcard kernels/cuda/*.cu)
CUDA_OBJ := $(CUDA_SRC:%.cu=build/%.o)
CUDA_LIB := build/libnormlab_cuda.so

cuda: $(CUDA_LIB)
	@echo "$(NCCL_SAY)"

build/kernels/cuda/%.o: kernels/cuda/%.cu $(wildcard kernels/cuda/*.h kernels/cuda/*.cuh) \
                        kernels/kernels.h
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJ)
	$(NVCC) -shared $(CUDA_GENCODE) -cudart static -o $@ $^ -lcublas $(NCCL_LIBS) \
	    -Xlinker -rpath,'$$ORIGIN:$(CUDA_HOME)/lib64' -Xlinker --no-undefined
