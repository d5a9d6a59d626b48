"""Find people by what they do: text queries and "more like this" over A2V outputs.

- :mod:`engine.search.text`: a query → weights over the PaSta and action concepts → a score per person-frame;
- :mod:`engine.search.index`: cosine nearest person-frames (numpy scan, faiss past 100k rows);
- :mod:`engine.search.segments`: scores → segments (item, track, start, end, peak);
- :mod:`engine.search.table`: run folders, extract folders and live rows as one table;
- :mod:`engine.search.searcher`: :class:`Searcher`, the engine the CLI and the GUI use;
- :mod:`engine.search.sheet`: a contact sheet of the segments' peak frames.
"""
