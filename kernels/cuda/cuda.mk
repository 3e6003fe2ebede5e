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

CUDA_SRC := $(wildcard kernels/cuda/*.cu)
CUDA_OBJ := $(CUDA_SRC:%.cu=build/%.o)
CUDA_LIB := build/libnormlab_cuda.so

cuda: $(CUDA_LIB)

build/kernels/cuda/%.o: kernels/cuda/%.cu kernels/cuda/nlcuda.h kernels/cuda/reduce.cuh \
                        kernels/kernels.h
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJ)
	$(NVCC) -shared $(CUDA_GENCODE) -cudart static -o $@ $^ -lcublas \
	    -Xlinker -rpath,'$$ORIGIN:$(CUDA_HOME)/lib64' -Xlinker --no-undefined
