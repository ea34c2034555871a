"""Text in: sources, tokenizers, sharded prepared datasets and token spaces (numpy, tiktoken, and
pyarrow/datasets when a record or hub source is read; never torch)."""
