"""Text in: corpora, tokenizers and prepared token files (numpy and tiktoken; never torch)."""
