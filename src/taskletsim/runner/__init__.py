"""Running scenarios: one run (:mod:`.single`), its result (:mod:`.result`), and designs
compared over seeds (:mod:`.compare`)."""
