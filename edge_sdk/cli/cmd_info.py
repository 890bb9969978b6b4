"""``edge-sdk info``: versions, execution providers, CPU/GPU/Jetson, what ``auto`` picks."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _cmd_info(args: argparse.Namespace) -> int:
    from edge_sdk.sysinfo import system_info

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"edge-sdk {info['edge_sdk']}  (Python {info['python']}, {info['platform']})")
    print("packages:  " + ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v))
    print(f"backends:  {', '.join(info['backends'])}")
    providers = info["execution_providers"]
    print(f"onnxruntime providers: {', '.join(providers) if isinstance(providers, list) else providers}")
    cpu = info["cpu"]
    print(f"cpu:       {cpu['model']} ({cpu['usable_cores']} of {cpu['cores']} cores usable)")
    print(f"threads:   {info['thread_budget']['text']}")
    gpus = info["gpus"]
    print("gpu:       " + ("; ".join(f"{g['name']} (driver {g['driver']}, cc {g['compute_capability']})"
                                     for g in gpus) if gpus else "none found (nvidia-smi)"))
    jetson = info["jetson"]
    print(f"jetson:    {jetson['model']}, L4T {jetson['l4t']}" if jetson else "jetson:    no")
    print(f"cuda-python: {info['cuda_python']}")
    auto = info["auto_backend"]
    providers_text = ", ".join(auto["options"].get("providers", []))
    print(f"backend=auto picks: {auto['kind']}" + (f" ({providers_text})" if providers_text else "")
          + f" because {auto['reason']}")
    return 0


def add_parser(sub: Any) -> None:
    info = sub.add_parser("info", help="versions, execution providers, CPU/GPU/Jetson")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)
