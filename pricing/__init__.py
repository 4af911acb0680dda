"""The pricing kernel: pure Python, no Django, no app — terms in, priced lines out."""
