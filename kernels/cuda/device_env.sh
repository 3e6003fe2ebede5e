# Build normlab on a GPU machine that has nvcc and gcc but neither the Debian -dev packages nor a
# package registry. Source it from the repository root:
#
#   . kernels/cuda/device_env.sh DEPS
#
# DEPS is a folder, or a DEPS.tar.xz to unpack into it, holding these Debian packages unpacked
# with `dpkg -x pkg.deb DEPS` (fetched elsewhere with `apt-get download`): libopenblas-dev
# libopenblas0 libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
# libyaml-dev libyaml-0-2 libzstd-dev libzstd1 libncurses-dev libncurses6 libncursesw6
# libtinfo6 (gcc brings its own libgomp). It points the compiler (CPATH), the linker (LIBRARY_PATH) and the loader
# (LD_LIBRARY_PATH) at them, and marks the Makefile's dependency check as done, since that check
# looks for the headers under /usr/include and would try apt-get.
nl_deps=${1:-${NL_DEPS:-.cuda/deps}}
if [ ! -d "$nl_deps" ] && [ -f "$nl_deps.tar.xz" ]; then
    mkdir -p "$nl_deps" && tar xJf "$nl_deps.tar.xz" -C "$nl_deps"
fi
nl_deps=$(cd "$nl_deps" && pwd)
nl_inc=$nl_deps/usr/include
nl_lib="$nl_deps/usr/lib/x86_64-linux-gnu:$nl_deps/usr/lib/x86_64-linux-gnu/openblas-pthread"
nl_lib="$nl_lib:$nl_deps/lib/x86_64-linux-gnu"
export CPATH="$nl_inc:$nl_inc/x86_64-linux-gnu/openblas-pthread${CPATH:+:$CPATH}"
export LIBRARY_PATH="$nl_lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$nl_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p build && touch build/.deps-ok
unset nl_deps nl_inc nl_lib
