"""Pieces every model-building command shares: one `--weights` vocabulary, the model build, notes
on their own line, and library errors said in CLI words.

`--weights`: none (random init) | a tag | hf-hub:owner/repo[@rev] | a local path; omitted: the
model's published weights. The library speaks of `pretrained=`; a CLI user never typed that.
"""
from __future__ import annotations

import re
import sys

WEIGHTS_HELP = ("none (random init), a tag (e.g. a1_in1k), hf-hub:owner/repo[@rev], or a local .safetensors "
                "file or folder (default: the model's published weights)")


def add_weights_argument(parser):
    parser.add_argument("--weights", default=None, metavar="WEIGHTS", help=WEIGHTS_HELP)


def pretrained_arg(weights: str | None):
    """--weights -> zoo.create's `pretrained`: None -> True, 'none' -> False, else the value."""
    if weights is None:
        return True
    if weights.strip().lower() == "none":
        return False
    return weights


def note(msg: str):
    """A note on stderr, on a line of its own even while a progress bar is drawn."""
    from tqdm import tqdm
    tqdm.write(f"[zoo] note: {msg}", file=sys.stderr)


_REWRITES = [
    # zoo.create('arch', pretrained='x') -> zoo COMMAND arch --weights x
    (re.compile(r"zoo\.create\((['\"])([^'\"]+)\1,\s*pretrained=(['\"])([^'\"]+)\3\)"), r"`zoo {cmd} \2 --weights \4`"),
    (re.compile(r"zoo\.create\((['\"])([^'\"]+)\1\)"), r"`zoo {cmd} \2`"),
    (re.compile(r"pretrained=False"), "--weights none"),
    (re.compile(r"pretrained=True"), "the default weights"),
    (re.compile(r"pretrained=(['\"])([^'\"]*)\1"), r"--weights \2"),
    (re.compile(r"pretrained=<"), "--weights <"),
    (re.compile(r"\bimg_size=(\d)"), r"--img-size \1"),
    (re.compile(r"zoo\.list_models\((['\"])([^'\"]*)\1\)( or `zoo list`)?"), r"`zoo list '\2'`"),
]


def cli_wording(msg: str, command: str) -> str:
    """A library error message in the words of the CLI (`--weights none`, not pretrained=False);
    main() applies it to the commands that set `cli_wording=True`."""
    for pattern, repl in _REWRITES:
        msg = pattern.sub(repl.replace("{cmd}", command), msg)
    return msg


def create_model(name: str, weights: str | None, command: str, *, img_size=None, data_init: bool = False):
    """zoo.create for a CLI command, with the CLI's --weights and a loud note on random weights."""
    import zoo

    pretrained = pretrained_arg(weights)
    model = zoo.create(name, pretrained=pretrained, img_size=img_size)  # errors: main() says them in CLI words
    if pretrained is False:
        if data_init:
            from export import testing
            testing.data_init(model)  # int8 calibration needs realistic activations
        note("random weights (--weights none): predictions are meaningless"
             + ("; numerics still compare" if command != "predict" else ""))
    return model
