"""A GPT-2 with random weights and a byte-level BPE tokenizer trained on the embedded corpus, saved as a
local model folder: the causal language model that phases 6 to 8 can run on where no trained one can
be downloaded. It scores at chance on ARC and near the vocabulary size in perplexity, so it checks the
machinery, not the science. Deterministic: the same arguments give the same weights and tokenizer.

``python -m avalanche_llm.model.random_model FOLDER [--layers 4 --hidden 64 --vocab 1000 --seed 0]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["build_random_gpt2"]

END_OF_TEXT = "<|endoftext|>"


def build_random_gpt2(folder: Path, *, layers: int = 4, hidden: int = 64, heads: int = 4, vocab: int = 1000,
                      positions: int = 256, seed: int = 0) -> Path:
    """Write the model (``save_pretrained``) and its tokenizer into ``folder``; returns ``folder``. Its config
    is marked as a demo (``model.demo``), so every output of its runs says that the weights are random."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    from ..text.corpus import load_corpus
    from .demo import DEMO_CONFIG_KEY

    documents = load_corpus("embedded://default_corpus.txt", "text").documents
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(documents, trainers.BpeTrainer(vocab_size=vocab, special_tokens=[END_OF_TEXT],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                           show_progress=False))
    folder.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT).save_pretrained(folder)
    eos = bpe.token_to_id(END_OF_TEXT)
    config = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=positions, n_embd=hidden, n_layer=layers,
                        n_head=heads, bos_token_id=eos, eos_token_id=eos,
                        **{DEMO_CONFIG_KEY: f"random weights, avalanche_llm.model.random_model seed {seed}"})
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avalanche_llm.model.random_model", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.folder / "config.json").is_file():
        print(f"{args.folder}: a model is already there; kept", flush=True)
        return 0
    build_random_gpt2(args.folder, layers=args.layers, hidden=args.hidden, vocab=args.vocab, seed=args.seed)
    print(f"{args.folder}: random GPT-2 ({args.layers} blocks, hidden {args.hidden}, vocabulary {args.vocab}) written",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
