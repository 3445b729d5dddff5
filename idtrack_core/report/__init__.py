"""The harmonization report: Markdown summary (:mod:`.summary`), rate plot (:mod:`.plot`) and Great
Expectations Data Docs of the matchings (:mod:`.data_docs`, needs the ``platform`` extra)."""
