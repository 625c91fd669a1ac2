"""Extraction: batched forward passes pooled to words or sentences, and the on-disk vector store."""
