"""Search a gallery of tracklets: the index format on disk (``index_file``), building and extending
it (``build``), querying it (``query``), the FAISS wrapper (``faiss_index``) and the result strip
picture (``strip``).

It sits above ``reid.pipeline`` (it loads trained models and embeds tracklets the way a run
does) and may import everything below that; only ``reid.cli`` imports it.
"""
