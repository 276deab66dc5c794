#!/usr/bin/env bash
# Source this on the GPU machine (no package index there): installs the wheels carried in .whl/ into /tmp/site
# and puts them and the repo on PYTHONPATH. Make the wheels here first (see nbs/99_contributing.ipynb):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl <pkgs>
# Usage there:   source scripts/gpu_env.sh && python scripts/test_nbs.py --flags gpu
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PATH=/tmp/site/bin:$PATH
# never use NVLink multicast on the shared hosts
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1
python3 -c "import torch, av, open_clip, nbdev; print('gpu env:', torch.__version__, torch.cuda.get_device_name(0), 'av', av.__version__, 'open_clip', open_clip.__version__, 'nbdev', nbdev.__version__)"
set +e
