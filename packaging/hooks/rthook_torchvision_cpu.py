# PyInstaller runtime hook, cpu flavour only: packaging/restora.spec adds it when torchvision's
# ops library cannot load against the bundled CPU-only torch (PyPI's torchvision is a CUDA
# build; its _C.so needs libtorch_cuda.so).
#
# torchvision guards every registration for its C++ ops with `extension._has_ops()` except
# two: `_meta_registrations.py` registers fake kernels for torchvision::nms and ::qnms
# unconditionally, and with no ops library that fails at import ("operator torchvision::nms
# does not exist"), taking spandrel (which imports torchvision.transforms.functional) with it.
# Defining the two schemas first (as torchvision's C++ does; no kernels) lets that
# registration through. `_has_ops()` stays False, so torchvision.ops.nms and the other C++
# ops still raise torchvision's own "Couldn't load custom C++ ops"; Restora and spandrel call
# none of them. Done when torchvision is first imported, so a start that never needs torch
# (`--version`, the window before a model runs) does not pay for importing it.
import sys


class _DefineTorchvisionOpSchemas:
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            import torch

            for op in ("nms", "qnms"):
                torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        return None   # the normal import of torchvision goes on


sys.meta_path.insert(0, _DefineTorchvisionOpSchemas())
