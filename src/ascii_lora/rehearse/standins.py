"""Random stand-ins for FLUX.1-dev, its autoencoder and text encoders, and their tokenizers.

Why: the trainer-side code paths (loading, caching, fp8, LoRA, sampling, saving, resuming) only
care about tensor names, shapes and dtypes, never about what the weights learned. Files with the
real layout and random values let the pinned sd-scripts run our exact plan on a CPU in minutes,
with no 30 GB download and no Hub access.

The shapes come from sd-scripts' own model classes built on the ``meta`` device (nothing is
copied from it), so a change of layout upstream shows up here as a changed stand-in, not a guess.
sd-scripts infers FLUX's block counts from the checkpoint, so the transformer can be cut to one
double and one single block; its T5 config hard-codes 24 layers, which ``t5_layers`` adjusts for
the process that loads a shorter stand-in (the rehearsal's launcher does exactly that).

Needs the train environment (torch, transformers, tokenizers, sentencepiece) and
``vendor/sd-scripts``; importing this module needs neither.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# sd-scripts' _load_tokenizer looks for <cache>/<hub id with / -> _>.
CLIP_TOKENIZER_DIR = "openai_clip-vit-large-patch14"
T5_TOKENIZER_DIR = "google_t5-v1_1-xxl"
MANIFEST = "standins.json"
FORMAT = 1  # bump when the files written here change, so old caches are rebuilt


@dataclass(frozen=True)
class Sizes:
    """How big the stand-ins are. ``tiny`` runs on a CPU; ``full`` has FLUX.1-dev's real sizes."""

    double_blocks: int
    single_blocks: int
    t5_layers: int

    @classmethod
    def tiny(cls) -> Sizes:
        return cls(double_blocks=1, single_blocks=1, t5_layers=2)

    @classmethod
    def full(cls) -> Sizes:
        return cls(double_blocks=19, single_blocks=38, t5_layers=24)


@dataclass(frozen=True)
class StandIns:
    """Where the stand-ins lie: one path per ``[model]`` key, as the plan needs them."""

    flux: Path
    clip_l: Path
    t5xxl: Path
    ae: Path
    tokenizer_cache_dir: Path

    def model_table(self) -> dict[str, str]:
        """The ``[model]`` table that points an experiment config at these files."""
        return {k: str(v) for k, v in asdict(self).items()}


def paths(cache: Path) -> StandIns:
    cache = Path(cache)
    return StandIns(
        flux=cache / "flux1-standin.safetensors",
        clip_l=cache / "clip_l-standin.safetensors",
        t5xxl=cache / "t5xxl-standin.safetensors",
        ae=cache / "ae-standin.safetensors",
        tokenizer_cache_dir=cache / "tokenizers",
    )


def t5_layers_in(path: Path) -> int:
    """Encoder layers of a T5 checkpoint, counted from its tensor names (header only, stdlib)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    blocks = {int(k.split(".")[2]) for k in header if k.startswith("encoder.block.")}
    return max(blocks) + 1 if blocks else 0


@contextlib.contextmanager
def t5_layers(n: int) -> Iterator[None]:
    """Make sd-scripts' ``load_t5xxl`` build ``n`` encoder layers instead of its hard-coded 24.

    ``library.flux_utils`` must be importable (vendor/sd-scripts on sys.path). The patch swaps the
    ``T5Config`` name that module looks up at call time; nothing on disk changes.
    """
    from library import flux_utils
    from transformers import T5Config

    def config(**kwargs):
        kwargs.update(num_layers=n, num_decoder_layers=n)
        return T5Config(**kwargs)

    saved = flux_utils.T5Config
    flux_utils.T5Config = config
    try:
        yield
    finally:
        flux_utils.T5Config = saved


def _sd_scripts_on_path(sd_scripts: Path) -> None:
    p = str(Path(sd_scripts).resolve())
    if p not in sys.path:
        sys.path.insert(0, p)


def _meta_models(sizes: Sizes):
    """(name, module) for each stand-in, built by sd-scripts' own classes on the meta device."""
    from dataclasses import replace

    import torch
    from library import flux_models, flux_utils

    spec = flux_models.configs[flux_utils.MODEL_NAME_DEV]
    with torch.device("meta"):
        flux = flux_models.Flux(
            replace(spec.params, depth=sizes.double_blocks, depth_single_blocks=sizes.single_blocks)
        )
        ae = flux_models.AutoEncoder(spec.ae_params)
    quiet = logging.getLogger(flux_utils.__name__)
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "missing keys" list is the point here, not news
    try:
        clip = flux_utils.load_clip_l(None, torch.bfloat16, "meta", state_dict={})
        with t5_layers(sizes.t5_layers):
            t5 = flux_utils.load_t5xxl(None, torch.float16, "meta", state_dict={})
    finally:
        quiet.setLevel(level)
    return {"flux": flux, "ae": ae, "clip_l": clip, "t5xxl": t5}


# dtype of each file as the real downloads ship them (flux1-dev and ae bf16/fp32, clip_l and t5xxl fp16).
DTYPES = {"flux": "bfloat16", "ae": "bfloat16", "clip_l": "float16", "t5xxl": "float16"}


def _random_state(module, dtype, gen) -> dict:
    """Every tensor of ``module``'s state dict, random but tame: norms 1, biases 0, weights N(0, 0.02).

    Tame values keep a random T5 in fp16 and a random VAE decoder free of inf/NaN, so losses and
    samples are finite numbers, as the trainer expects.
    """
    import torch

    out: dict[str, Any] = {}
    seen: dict[int, str] = {}
    for name, t in module.state_dict(
        keep_vars=True
    ).items():  # the Parameters themselves: tied ones are one object
        if not t.dtype.is_floating_point:
            continue  # index buffers are rebuilt by the model, never loaded
        shape = tuple(t.shape)
        leaf = name.rsplit(".", 1)
        is_norm = any(s in name for s in ("norm", "layer_norm", ".scale")) and not name.endswith("bias")
        if name.endswith("bias"):
            v = torch.zeros(shape, dtype=dtype)
        elif is_norm or len(shape) == 1 and leaf[-1] in ("weight", "scale"):
            v = torch.ones(shape, dtype=dtype)
        else:
            v = (
                torch.empty(shape, dtype=torch.float32, device=gen.device)
                .normal_(0.0, 0.02, generator=gen)
                .to(dtype)
                .cpu()
            )
        key = id(
            t
        )  # tied weights (T5's shared / embed_tokens) get equal values, stored twice as in real files
        if key in seen:
            v = out[seen[key]].clone()
        seen[key] = name
        out[name] = v.contiguous()
    return out


def _atomic_save(tensors: dict, path: Path, meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _clip_tokenizer(out_dir: Path, texts: list[str]) -> None:
    """A CLIP byte-level BPE vocabulary (``</w>`` word ends, CLIP's two specials last) learned from ``texts``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
        special_tokens=[],
    )
    tok.train_from_iterator([t.lower() for t in texts], trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = {}
    # every byte alone and as a word end, as CLIP's vocabulary has, so no text maps to unknown
    for sym in [*alphabet, *(a + "</w>" for a in alphabet), *sorted(model["vocab"], key=model["vocab"].get)]:
        vocab.setdefault(sym, len(vocab))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        vf, mf = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vf.write_text(json.dumps(vocab, ensure_ascii=False))
        mf.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        CLIPTokenizer(str(vf), str(mf)).save_pretrained(str(out_dir))


def _t5_tokenizer(out_dir: Path, texts: list[str]) -> None:
    """A sentencepiece unigram model learned from ``texts``, with T5's ids (pad 0, eos 1, unk 2) and 100 sentinels."""
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "spiece"
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_prefix=str(prefix),
            vocab_size=400,
            hard_vocab_limit=False,
            model_type="unigram",
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            character_coverage=1.0,
            minloglevel=2,
            num_threads=1,
        )
        T5TokenizerFast(vocab_file=str(prefix) + ".model", extra_ids=100).save_pretrained(str(out_dir))


def build(
    cache: Path,
    sd_scripts: Path,
    texts: Iterable[str],
    sizes: Sizes | None = None,
    seed: int = 0,
    log=lambda msg: None,
) -> StandIns:
    """Write the four stand-in model files and both tokenizers into ``cache`` (once).

    A cache whose manifest matches (sizes, seed, texts, format) is reused as is; anything else is
    rebuilt, each file written to a temp name and renamed, the manifest last, so an interrupted
    build is never taken for a finished one.
    """
    import torch

    sizes = sizes or Sizes.tiny()
    texts = sorted({t.strip() for t in texts if t.strip()})
    if not texts:
        raise ValueError("the tokenizers need at least one caption to learn from")
    cache = Path(cache)
    out = paths(cache)
    want = {
        "format": FORMAT,
        "sizes": asdict(sizes),
        "seed": seed,
        "texts": len(texts),
        "texts_hash": _hash("\n".join(texts)),
        "torch": torch.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    manifest = cache / MANIFEST
    if manifest.is_file():
        try:
            have = json.loads(manifest.read_text())
        except ValueError:
            have = None
        if have == want and all(p.exists() for p in asdict(out).values()):
            log(f"stand-ins: reusing {cache}")
            return out
        manifest.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    _sd_scripts_on_path(sd_scripts)
    # on a CUDA box the 17 billion random numbers of the full-size stand-ins are drawn on the GPU
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(seed)
    for key, module in _meta_models(sizes).items():
        dtype = getattr(torch, DTYPES[key])
        path = getattr(out, key)
        log(f"stand-ins: writing {path.name}")
        _atomic_save(
            _random_state(module, dtype, gen), path, {"ascii_lora_standin": "random weights, not a model"}
        )
    tok = out.tokenizer_cache_dir
    shutil.rmtree(tok, ignore_errors=True)
    tmp_tok = tok.with_name(tok.name + ".tmp")
    shutil.rmtree(tmp_tok, ignore_errors=True)
    log("stand-ins: learning CLIP BPE and T5 unigram tokenizers from the captions")
    _clip_tokenizer(tmp_tok / CLIP_TOKENIZER_DIR, texts)
    _t5_tokenizer(tmp_tok / T5_TOKENIZER_DIR, texts)
    os.replace(tmp_tok, tok)
    manifest.write_text(json.dumps(want, indent=1))
    return out


def _hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
