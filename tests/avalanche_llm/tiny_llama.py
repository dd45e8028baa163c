"""A tiny Llama-style causal model saved to disk, built offline: a SentencePiece-like BPE tokenizer
(``▁`` word marks, a space prepended to the first word, byte fallback) whose post-processor puts the
start token ``<s>`` before every text, as Llama's tokenizers do, and a 2-block ``LlamaForCausalLM``
with random weights from a fixed seed."""

from __future__ import annotations

from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def build_random_llama(folder: Path, *, vocab: int = 700, hidden: int = 32, layers: int = 2, heads: int = 2,
                       positions: int = 128, seed: int = 0) -> Path:
    """Write the model and tokenizer into ``folder`` (``save_pretrained``); returns ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from avalanche_llm.text.corpus import load_corpus

    documents = load_corpus("embedded://default_corpus.txt", "text").documents
    bpe = Tokenizer(models.BPE(unk_token=UNK, byte_fallback=True))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    bpe.decoder = decoders.Sequence([decoders.ByteFallback(),
                                     decoders.Metaspace(replacement="▁", prepend_scheme="first")])
    byte_tokens = [f"<0x{byte:02X}>" for byte in range(256)]  # what byte fallback spells unseen characters with
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[UNK, BOS, EOS, *byte_tokens], show_progress=False)
    bpe.train_from_iterator(documents, trainer)
    bos = bpe.token_to_id(BOS)
    bpe.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, bos)])
    folder.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOS, unk_token=UNK).save_pretrained(folder)
    config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=positions, bos_token_id=bos, eos_token_id=bpe.token_to_id(EOS),
                         initializer_range=0.2, tie_word_embeddings=False)  # large weights: the start token matters
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
